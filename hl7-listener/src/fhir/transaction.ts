import { createHash, randomUUID } from 'node:crypto';
import type {
  Bundle,
  BundleEntry,
  Device,
  DiagnosticReport,
  DocumentReference,
  Observation,
  Patient,
  Reference,
  Resource,
} from '@medplum/fhirtypes';
import {
  AIAST,
  HL7_RESULT_ID_SYSTEM,
  buildModelDeviceEntries,
  type AiModelDefinition,
} from '@monitormed/common';
import type { NonAiResultsMode } from '../config.js';
import type { Hl7Message } from '../hl7/message.js';
import { textValue, type Hl7Segment } from '../hl7/segment.js';
import { buildAiProvenance, labelAiObservation, matchModel } from './ai.js';
import { mapObservation } from './observation.js';
import { buildReport, readReportEffective } from './report.js';
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
  /** Largest decoded OBX-5 ED payload, in bytes; 5 MiB when absent. */
  maxAttachmentBytes?: number;
}

/** The transaction to send and what it contains. */
export interface TransactionPlan {
  bundle: Bundle;
  observationCount: number;
  aiObservationCount: number;
  skippedNonAiCount: number;
}

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
      // The Device comes with its model card DocumentReference when the catalog has one.
      const { entries: deviceEntries, deviceEntry } = buildModelDeviceEntries(model, placeholder);
      entries.push(...deviceEntries);
      reference = { reference: deviceEntry.fullUrl };
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
    const effective = readReportEffective(obr, facilityTimeZone);

    const obxSetIds = setIds(group.results.map((result) => result.obx));
    const observations: { entry: BundleEntry; model: AiModelDefinition | undefined }[] = [];
    group.results.forEach((result, resultIndex) => {
      const model = matchModel(
        input.models,
        sendingApplication,
        textValue(result.obx, 3, 1),
        textValue(result.obx, 18, 1)
      );
      if (model === undefined && input.nonAiResults === 'ignore') {
        skippedNonAiCount += 1;
        return;
      }

      const identifierValue = `${reportIdValue}|${obxSetIds[resultIndex] ?? ''}`;
      const mapped = mapObservation(result.obx, {
        subject: patient.reference,
        identifierValue,
        fallbackEffective: effective.start,
        fallbackEffectiveExtensions: effective.observationExtensions,
        notes: result.notes,
        facilityTimeZone,
        ...(input.maxAttachmentBytes === undefined ? {} : { maxAttachmentBytes: input.maxAttachmentBytes }),
      });
      let observation: Observation = mapped.observation;
      if (mapped.attachment !== undefined) {
        // R4 Observation has no valueAttachment, so the ED payload is a DocumentReference that the
        // Observation is derived from (the IG uses the R5 valueAttachment extension instead).
        const document: DocumentReference = {
          resourceType: 'DocumentReference',
          identifier: [{ system: HL7_RESULT_ID_SYSTEM, value: identifierValue }],
          status: 'current',
          type: observation.code,
          subject: patient.reference,
          content: [{ attachment: mapped.attachment }],
        };
        const documentEntry = postEntry(
          document,
          `identifier=${tokenSearchValue(HL7_RESULT_ID_SYSTEM, identifierValue)}`
        );
        entries.push(documentEntry);
        observation = { ...observation, derivedFrom: [{ reference: documentEntry.fullUrl }] };
      }
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

    const report: DiagnosticReport = buildReport(group, {
      identifierValue: reportIdValue,
      subject: patient.reference,
      effective,
      results: observations.map((o): Reference<Observation> => ({ reference: o.entry.fullUrl })),
      facilityTimeZone,
    });
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
