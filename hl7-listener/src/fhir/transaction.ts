import { createHash, randomUUID } from 'node:crypto';
import type {
  Bundle,
  BundleEntry,
  Device,
  DiagnosticReport,
  Observation,
  Patient,
  Reference,
  Resource,
} from '@medplum/fhirtypes';
import {
  AIAST,
  HL7_RESULT_ID_SYSTEM,
  buildModelDevice,
  modelDeviceQuery,
  type AiModelDefinition,
} from '@monitormed/common';
import type { NonAiResultsMode } from '../config.js';
import { ERROR_CODES, Hl7ProcessingError } from '../hl7/hl7-error.js';
import type { Hl7Message } from '../hl7/message.js';
import { textValue, type Hl7Segment } from '../hl7/segment.js';
import { buildAiProvenance, labelAiObservation, matchModel } from './ai.js';
import { codeableConcept } from './code-systems.js';
import { dateTimeAt, mapObservation, notesOf } from './observation.js';
import type { OrderGroup } from './result-groups.js';
import { tokenSearchValue } from './search.js';

/** Reference to the patient from the bundle: a conditional reference, or a Patient entry created in the same bundle. */
export interface PatientLink {
  reference: Reference<Patient>;
  entry?: BundleEntry;
}

/** Input of {@link buildResultTransaction}. */
export interface TransactionInput {
  message: Hl7Message;
  groups: OrderGroup[];
  /** Link for each PID segment of the message. */
  patients: Map<Hl7Segment, PatientLink>;
  models: AiModelDefinition[];
  nonAiResults: NonAiResultsMode;
  facilityTimeZone: string;
  recordedAt: Date;
}

/** The transaction to send and what it contains. */
export interface TransactionPlan {
  bundle: Bundle;
  observationCount: number;
  aiObservationCount: number;
  skippedNonAiCount: number;
}

/** OBR-25 result status (HL7 table 0123) to DiagnosticReport.status. */
const REPORT_STATUS: Record<string, DiagnosticReport['status']> = {
  F: 'final',
  P: 'preliminary',
  C: 'corrected',
  X: 'cancelled',
  A: 'partial',
  R: 'partial',
  S: 'partial',
  I: 'registered',
  O: 'registered',
};

/** R5 DiagnosticReport.note carried into R4 by the cross-version extension, for OBR-level NTE comments. */
const REPORT_NOTE_EXTENSION = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note';

/**
 * Returns set ids for segments: their field 1 when every one is present and unique, else their position.
 * Positions keep identifiers unique for senders that leave set ids empty or repeat them.
 */
function setIds(segments: Hl7Segment[]): string[] {
  const declared = segments.map((segment) => textValue(segment, 1));
  const usable = declared.every((id) => id !== '') && new Set(declared).size === declared.length;
  return usable ? declared : segments.map((_segment, index) => String(index + 1));
}

function placeholder(): string {
  return `urn:uuid:${randomUUID()}`;
}

function postEntry(resource: Resource, ifNoneExist: string, fullUrl = placeholder()): BundleEntry {
  return { fullUrl, resource, request: { method: 'POST', url: resource.resourceType, ifNoneExist } };
}

/**
 * Builds the FHIR transaction of one ORU^R01: a DiagnosticReport per OBR, an Observation per OBX, the
 * model Devices and one AI Provenance per OBR and model. Reports and Observations are created only when
 * their HL7_RESULT_ID_SYSTEM identifier is new, and Devices only when missing, so a replay creates nothing twice.
 * @param input - Parsed message, order groups and patient links.
 * @returns The transaction plan.
 * @throws Hl7ProcessingError (AE) when a required field is missing or a value is invalid.
 */
export function buildResultTransaction(input: TransactionInput): TransactionPlan {
  const { message, facilityTimeZone } = input;
  const { sendingFacility, sendingApplication, controlId } = message.header;
  const entries: BundleEntry[] = [];
  const deviceRefs = new Map<string, Reference<Device>>();
  let observationCount = 0;
  let aiObservationCount = 0;
  let skippedNonAiCount = 0;

  for (const link of new Set(input.patients.values())) {
    if (link.entry !== undefined) {
      entries.push(link.entry);
    }
  }

  const deviceFor = (model: AiModelDefinition): Reference<Device> => {
    let reference = deviceRefs.get(model.modelId);
    if (reference === undefined) {
      const entry = postEntry(buildModelDevice(model), modelDeviceQuery(model.modelId));
      entries.push(entry);
      reference = { reference: entry.fullUrl };
      deviceRefs.set(model.modelId, reference);
    }
    return reference;
  };

  const obrSetIds = setIds(input.groups.map((group) => group.obr));
  input.groups.forEach((group, groupIndex) => {
    const patient = input.patients.get(group.pid);
    if (patient === undefined) {
      throw new Error('No patient link for a PID segment; the caller must resolve every PID first');
    }
    const obr = group.obr;
    const reportIdValue = `${sendingFacility}|${controlId}|${obrSetIds[groupIndex] ?? ''}`;
    const effective = dateTimeAt(
      textValue(obr, 7),
      { segment: 'OBR', segmentSequence: obr.occurrence, field: 7 },
      facilityTimeZone
    );

    const obxSetIds = setIds(group.results.map((result) => result.obx));
    const observations: { entry: BundleEntry; model: AiModelDefinition | undefined }[] = [];
    group.results.forEach((result, resultIndex) => {
      const model = matchModel(input.models, sendingApplication, textValue(result.obx, 3, 1));
      if (model === undefined && input.nonAiResults === 'ignore') {
        skippedNonAiCount += 1;
        return;
      }

      const identifierValue = `${reportIdValue}|${obxSetIds[resultIndex] ?? ''}`;
      let observation: Observation = mapObservation(result.obx, {
        subject: patient.reference,
        identifierValue,
        fallbackEffective: effective,
        notes: result.notes,
        facilityTimeZone,
      });
      if (model !== undefined) {
        observation = labelAiObservation(observation, model, deviceFor(model), result.obx.occurrence);
        aiObservationCount += 1;
      }
      observationCount += 1;
      observations.push({
        entry: postEntry(
          observation,
          `identifier=${tokenSearchValue(HL7_RESULT_ID_SYSTEM, identifierValue)}`
        ),
        model,
      });
    });

    if (observations.length === 0 && group.results.length > 0) {
      // Every result of this order was a skipped non-AI result.
      return;
    }

    const report = buildReport(
      group,
      reportIdValue,
      patient.reference,
      effective,
      observations.map((o): Reference<Observation> => ({ reference: o.entry.fullUrl })),
      facilityTimeZone
    );
    const isAi = observations.some((o) => o.model !== undefined);
    const reportEntry = postEntry(
      isAi ? { ...report, meta: { security: [AIAST] } } : report,
      `identifier=${tokenSearchValue(HL7_RESULT_ID_SYSTEM, reportIdValue)}`
    );
    entries.push(...observations.map((o) => o.entry), reportEntry);

    for (const model of new Set(observations.map((o) => o.model))) {
      if (model === undefined) {
        continue;
      }
      const targets = observations
        .filter((o) => o.model === model)
        .map((o) => ({ reference: o.entry.fullUrl }));
      targets.push({ reference: reportEntry.fullUrl });
      const firstEffective = observations.find((o) => o.model === model)?.entry.resource as
        Observation | undefined;
      const provenance = buildAiProvenance(
        targets,
        deviceFor(model),
        firstEffective?.effectiveDateTime,
        input.recordedAt
      );
      // A deterministic id makes a replayed message update this Provenance instead of adding a second one.
      const id = `hl7-${createHash('sha256').update(`${reportIdValue}|${model.modelId}`).digest('hex').slice(0, 40)}`;
      entries.push({
        fullUrl: placeholder(),
        resource: { ...provenance, id },
        request: { method: 'PUT', url: `Provenance/${id}` },
      });
    }
  });

  return {
    bundle: { resourceType: 'Bundle', type: 'transaction', entry: entries },
    observationCount,
    aiObservationCount,
    skippedNonAiCount,
  };
}

function buildReport(
  group: OrderGroup,
  identifierValue: string,
  subject: Reference<Patient>,
  effective: string | undefined,
  results: Reference<Observation>[],
  facilityTimeZone: string
): DiagnosticReport {
  const obr = group.obr;
  const code = codeableConcept(obr, 4);
  if (code === undefined) {
    throw new Hl7ProcessingError({
      ackCode: 'AE',
      errorCode: ERROR_CODES.requiredFieldMissing,
      location: { segment: 'OBR', segmentSequence: obr.occurrence, field: 4 },
      text: 'OBR-4 universal service identifier is required but empty',
    });
  }

  const issued = dateTimeAt(
    textValue(obr, 22),
    { segment: 'OBR', segmentSequence: obr.occurrence, field: 22 },
    facilityTimeZone
  );
  const notes = notesOf(group.notes);
  return {
    resourceType: 'DiagnosticReport',
    identifier: [{ system: HL7_RESULT_ID_SYSTEM, value: identifierValue }],
    status: REPORT_STATUS[textValue(obr, 25).toUpperCase()] ?? 'unknown',
    code,
    subject,
    ...(effective === undefined ? {} : { effectiveDateTime: effective }),
    // DiagnosticReport.issued is an instant, so a result time with less than seconds precision is left out.
    ...(issued !== undefined && /T\d{2}:\d{2}:\d{2}/.test(issued) ? { issued } : {}),
    ...(results.length === 0 ? {} : { result: results }),
    ...(notes.length === 0
      ? {}
      : { extension: notes.map((note) => ({ url: REPORT_NOTE_EXTENSION, valueAnnotation: note })) }),
  };
}
