import type { BundleEntry, Device, DocumentReference } from '@medplum/fhirtypes';
import {
  AI_DEVICE_TYPE,
  AI_DEVICE_TYPE_SYSTEM,
  AI_TRANSPARENCY_BASE,
  MODEL_ID_SYSTEM,
  MONITORMED_BASE,
} from './fhir-codes.js';
import type { AiModelDefinition } from './models.js';
import { buildModelCard, modelCardQuery } from './model-card.js';

/** AIKind extension of the AI Transparency IG: the more specific kind of AI technology. */
export const AI_KIND_EXTENSION = `${AI_TRANSPARENCY_BASE}/StructureDefinition/aitransparency.AIKind`;

/** ModelCardDescription extension of the AI Transparency IG: Reference(AI-ModelCard) on the AI Device. */
export const MODEL_CARD_EXTENSION = `${AI_TRANSPARENCY_BASE}/StructureDefinition/aitransparency.modelCardDescription`;

/** Identifier system of the FDA marketing submission number (510(k), De Novo or PMA) on a model Device. */
export const FDA_SUBMISSION_SYSTEM = `${MONITORMED_BASE}/sid/fda-submission`;

/**
 * Identifier system of DICOM UIDs. FHIR requires the value in `urn:oid:` form
 * (https://hl7.org/fhir/R4/identifier-registry.html).
 */
export const DICOM_UID_SYSTEM = 'urn:dicom:uid';

/** Prefix of the Device note that contains the intended use statement, by which readers find the note. */
export const INTENDED_USE_NOTE_PREFIX = 'Intended use: ';

/**
 * Builds the AI Device (AI Transparency IG profile AI-Device, MonitorMed profile monitored-ai-device) that
 * represents a monitored model. R4 Device has no intended-use element, so the statement is a note starting
 * with {@link INTENDED_USE_NOTE_PREFIX}.
 * @param model - The model definition from the catalog.
 * @param modelCardReference - Reference to the model's AI-ModelCard DocumentReference, when one is written.
 * @returns A Device without id, identified by the model id.
 */
export function buildModelDevice(model: AiModelDefinition, modelCardReference?: string): Device {
  const identifier: NonNullable<Device['identifier']> = [{ system: MODEL_ID_SYSTEM, value: model.modelId }];
  if (model.fdaSubmissionNumber !== undefined) {
    identifier.push({ system: FDA_SUBMISSION_SYSTEM, value: model.fdaSubmissionNumber });
  }
  if (model.dicomDeviceUid !== undefined) {
    identifier.push({ system: DICOM_UID_SYSTEM, value: `urn:oid:${model.dicomDeviceUid}` });
  }

  const extension: NonNullable<Device['extension']> = [
    {
      url: AI_KIND_EXTENSION,
      valueCodeableConcept: { coding: [{ system: AI_DEVICE_TYPE_SYSTEM, code: model.kind }] },
    },
  ];
  if (modelCardReference !== undefined) {
    extension.push({ url: MODEL_CARD_EXTENSION, valueReference: { reference: modelCardReference } });
  }

  return {
    resourceType: 'Device',
    identifier,
    status: 'active',
    manufacturer: model.manufacturer,
    deviceName: [{ name: model.name, type: 'model-name' }],
    modelNumber: model.manufacturerModelId ?? model.modelId,
    type: { coding: [AI_DEVICE_TYPE] },
    version: [{ value: model.version }],
    extension,
    note: [{ text: `${INTENDED_USE_NOTE_PREFIX}${model.intendedUse}` }],
  };
}

/**
 * Builds the conditional search that finds a model's Device, for `ifNoneExist` and inline match URLs.
 * @param modelId - The model id.
 * @returns A query such as `identifier=https://monitormed.dev/fhir/sid/model-id|sepsis-risk`.
 */
export function modelDeviceQuery(modelId: string): string {
  return `identifier=${MODEL_ID_SYSTEM}|${modelId}`;
}

/**
 * Builds the transaction entries that create a model's Device and, when the catalog has a model card, its
 * AI-ModelCard DocumentReference, each only if absent (`ifNoneExist`). The Device points at the card
 * through the card entry's `fullUrl`, which the server replaces with the card's id.
 * @param model - The model definition from the catalog.
 * @param fullUrl - Returns a fresh `urn:uuid:` placeholder for an entry.
 * @returns The entries, the card first, and the Device entry.
 */
export function buildModelDeviceEntries(
  model: AiModelDefinition,
  fullUrl: () => string
): { entries: BundleEntry[]; deviceEntry: BundleEntry<Device> } {
  const entries: BundleEntry[] = [];
  let cardUrl: string | undefined;
  if (model.modelCard !== undefined) {
    const card: DocumentReference = buildModelCard(model, model.modelCard);
    cardUrl = fullUrl();
    entries.push({
      fullUrl: cardUrl,
      resource: card,
      request: { method: 'POST', url: 'DocumentReference', ifNoneExist: modelCardQuery(model) },
    });
  }

  // NOTE: `ifNoneExist` leaves an existing Device untouched, so a Device created from an older catalog
  // lacks the newer identifiers and the model card reference until `registerModel` updates it.
  const deviceEntry: BundleEntry<Device> = {
    fullUrl: fullUrl(),
    resource: buildModelDevice(model, cardUrl),
    request: { method: 'POST', url: 'Device', ifNoneExist: modelDeviceQuery(model.modelId) },
  };
  entries.push(deviceEntry);
  return { entries, deviceEntry };
}
