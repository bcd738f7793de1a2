/**
 * FHIR form of a ground-truth label: an Observation whose `focus` is the AI result and whose value is the
 * label, and a Provenance whose entities are the confirming resources (R4 Provenance.entity role
 * `source`). The AI result itself is not updated, so its version, and the analysis keyed by that
 * version, stay as they are. Both resources use ids derived from the AI result id and are written with
 * PUT, so a repeated write of the same label creates no new version.
 */
import { createHash } from 'node:crypto';
import type { Bundle, Observation, Provenance } from '@medplum/fhirtypes';
import { MONITORMED_BASE, type FhirClient, type LabelDocument } from '@monitormed/common';

/** Identifier system of label Observations; the value is the AI result Observation id. */
export const GROUND_TRUTH_LABEL_ID_SYSTEM = `${MONITORMED_BASE}/sid/ground-truth-label`;

/** Code system of the label Observation's code and method, defined in profiles/input/fsh/ground-truth.fsh. */
export const GROUND_TRUTH_CODE_SYSTEM = `${MONITORMED_BASE}/CodeSystem/ground-truth`;

/** Observation.code of a label Observation. */
export const GROUND_TRUTH_LABEL_CODE = {
  system: GROUND_TRUTH_CODE_SYSTEM,
  code: 'ground-truth-label',
  display: 'Ground-truth label of an AI result',
} as const;

const INTERPRETATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';

/** Labels as v3-ObservationInterpretation codes: POS, NEG and IND (indeterminate). */
const LABEL_VALUE = {
  positive: { system: INTERPRETATION_SYSTEM, code: 'POS', display: 'Positive' },
  negative: { system: INTERPRETATION_SYSTEM, code: 'NEG', display: 'Negative' },
  uncertain: { system: INTERPRETATION_SYSTEM, code: 'IND', display: 'Indeterminate' },
} as const;

/** Displays of the method codes, one per LabelMethod. */
const METHOD_DISPLAY = {
  rule: 'Rule-based extraction from report text',
  lab: 'Confirmatory laboratory result',
  diagnosis: 'Diagnosis on the problem list',
  horizon: 'No confirming evidence by the rule horizon',
} as const;

/** FHIR ids are at most 64 characters, so long AI result ids are hashed. */
function derivedId(prefix: string, observationId: string): string {
  const candidate = `${prefix}-${observationId}`;
  return candidate.length <= 64
    ? candidate
    : `${prefix}-${createHash('sha256').update(observationId).digest('hex').slice(0, 40)}`;
}

/** Id of the label Observation of an AI result. */
export function labelObservationId(observationId: string): string {
  return derivedId('gt-label', observationId);
}

/** Id of the label's Provenance. */
export function labelProvenanceId(observationId: string): string {
  return derivedId('gt-prov', observationId);
}

/**
 * Builds the label Observation and its Provenance.
 * @param document - A label document whose label is positive, negative or uncertain.
 * @returns The two resources, with their ids.
 */
export function buildLabelResources(document: LabelDocument): {
  observation: Observation;
  provenance: Provenance;
} {
  if (document.label === 'unknown' || document.method === undefined) {
    throw new Error(`Observation/${document._id} has no label yet; only decided labels are written to FHIR.`);
  }
  const deciding = document.evidence.find((e) => e.source === document.source);
  const observationId = labelObservationId(document._id);

  const observation: Observation = {
    resourceType: 'Observation',
    id: observationId,
    identifier: [{ system: GROUND_TRUTH_LABEL_ID_SYSTEM, value: document._id }],
    status: 'final',
    code: { coding: [GROUND_TRUTH_LABEL_CODE] },
    subject: { reference: document.patient },
    // HAPI FHIR 8.8 strips versions from stored references by default, so the versions of the AI
    // result and of the sources are kept in the MongoDB label document only.
    focus: [{ reference: `Observation/${document._id}` }],
    ...(deciding === undefined ? {} : { effectiveDateTime: deciding.evidenceTime.toISOString() }),
    issued: document.updatedAt.toISOString(),
    valueCodeableConcept: { coding: [LABEL_VALUE[document.label]] },
    method: {
      coding: [
        {
          system: GROUND_TRUTH_CODE_SYSTEM,
          code: `label-${document.method}`,
          display: METHOD_DISPLAY[document.method],
        },
      ],
    },
  };

  const provenance: Provenance = {
    resourceType: 'Provenance',
    id: labelProvenanceId(document._id),
    target: [{ reference: `Observation/${observationId}` }],
    ...(deciding === undefined ? {} : { occurredDateTime: deciding.evidenceTime.toISOString() }),
    recorded: document.updatedAt.toISOString(),
    agent: [
      {
        type: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
              code: 'assembler',
              display: 'Assembler',
            },
          ],
        },
        who: { display: 'MonitorMed fhir-server-ext ground-truth linker' },
      },
    ],
    entity: document.evidence.map((evidence) => ({
      role: 'source' as const,
      what: { reference: evidence.source },
    })),
  };
  return { observation, provenance };
}

/**
 * Writes the label Observation and Provenance in one transaction with PUT.
 * @param client - FHIR client of the server that stores the AI results.
 * @param document - A decided label document.
 */
export async function writeLabelResources(client: FhirClient, document: LabelDocument): Promise<void> {
  const { observation, provenance } = buildLabelResources(document);
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { resource: observation, request: { method: 'PUT', url: `Observation/${observation.id ?? ''}` } },
      { resource: provenance, request: { method: 'PUT', url: `Provenance/${provenance.id ?? ''}` } },
    ],
  };
  // fhir-kit-client types the body with its own FHIR types, which differ from @medplum/fhirtypes.
  await client.transaction({ body: bundle as unknown as Parameters<FhirClient['transaction']>[0]['body'] });
}
