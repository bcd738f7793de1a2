import type { Device } from '@medplum/fhirtypes';
import {
  AI_DEVICE_TYPE,
  AI_DEVICE_TYPE_SYSTEM,
  AI_TRANSPARENCY_BASE,
  MODEL_ID_SYSTEM,
} from './fhir-codes.js';
import type { AiModelDefinition } from './models.js';

/** AIKind extension of the AI Transparency IG: the more specific kind of AI technology. */
export const AI_KIND_EXTENSION = `${AI_TRANSPARENCY_BASE}/StructureDefinition/aitransparency.AIKind`;

/**
 * Builds the AI Device (AI Transparency IG profile AI-Device) that represents a monitored model.
 * @param model - The model definition from the catalog.
 * @returns A Device without id, identified by the model id.
 */
export function buildModelDevice(model: AiModelDefinition): Device {
  return {
    resourceType: 'Device',
    identifier: [{ system: MODEL_ID_SYSTEM, value: model.modelId }],
    status: 'active',
    manufacturer: model.manufacturer,
    deviceName: [{ name: model.name, type: 'model-name' }],
    modelNumber: model.modelId,
    type: { coding: [AI_DEVICE_TYPE] },
    version: [{ value: model.version }],
    extension: [
      {
        url: AI_KIND_EXTENSION,
        valueCodeableConcept: { coding: [{ system: AI_DEVICE_TYPE_SYSTEM, code: model.kind }] },
      },
    ],
    note: [{ text: `Intended use: ${model.intendedUse}` }],
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
