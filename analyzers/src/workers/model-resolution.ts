import type { Observation } from '@medplum/fhirtypes';
import { MODEL_ID_SYSTEM, type FhirClient } from '@monitormed/common';
import { readDevice } from '../fhir/gateway.js';
import { InvalidResultError } from '../invalid-result-error.js';

/** The model that produced a result, from its AI Device. */
export interface ResultModel {
  deviceId: string;
  /** Identifier value in MODEL_ID_SYSTEM. */
  modelId: string;
  /** Device.version[0].value, or `unversioned` when the Device has none. */
  modelVersion: string;
}

/** Version used when the model Device states none, so its results still group together. */
export const UNVERSIONED = 'unversioned';

/**
 * Finds the model of an AI result: Observation.device → Device → identifier in MODEL_ID_SYSTEM.
 * @param client - FHIR client.
 * @param observation - The AI result.
 * @returns Device id, model id and model version.
 * @throws InvalidResultError when the reference, the Device or its model identifier is missing.
 */
export async function resolveResultModel(client: FhirClient, observation: Observation): Promise<ResultModel> {
  const reference = observation.device?.reference;
  const match = reference === undefined ? null : /^(?:.*\/)?Device\/([^/]+)$/.exec(reference);
  const deviceId = match?.[1];
  if (deviceId === undefined) {
    throw new InvalidResultError(
      `Observation/${String(observation.id)} has no Observation.device reference to an AI model Device.`
    );
  }

  const device = await readDevice(client, deviceId);
  if (device === undefined) {
    throw new InvalidResultError(
      `Observation/${String(observation.id)} refers to Device/${deviceId}, which does not exist.`
    );
  }

  const modelId = device.identifier?.find((identifier) => identifier.system === MODEL_ID_SYSTEM)?.value;
  if (modelId === undefined) {
    throw new InvalidResultError(
      `Device/${deviceId} has no identifier in ${MODEL_ID_SYSTEM}, so its model is unknown.`
    );
  }

  return { deviceId, modelId, modelVersion: device.version?.[0]?.value ?? UNVERSIONED };
}
