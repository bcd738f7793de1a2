/**
 * Reads from the FHIR server that the operations need: the model Device and its identity, and plain
 * reads and searches by REST.
 */
import type { Bundle, Device, Resource } from '@medplum/fhirtypes';
import { MODEL_ID_SYSTEM, MONITORMED_BASE } from '@monitormed/common';
import { UpstreamError } from '../proxy/upstream-error.js';
import { OperationInputError } from './operation-input-error.js';
import { OperationNotFoundError } from './operation-not-found-error.js';

/** Identifier system of the FDA submission number (510(k), De Novo or PMA) on a model Device. */
export const FDA_SUBMISSION_SYSTEM = `${MONITORMED_BASE}/sid/fda-submission`;

/** The FHIR server's base URL and the time limit of one request. */
export interface FhirTarget {
  fhirBaseUrl: string;
  timeoutMs: number;
}

/**
 * Sends one request to the FHIR server and returns the status and the parsed body.
 * @throws UpstreamError 502 when the server does not respond, or 504 on timeout.
 */
export async function callFhir(
  target: FhirTarget,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {}
): Promise<{ status: number; resource: Resource | undefined; headers: Headers }> {
  let response: Response;
  try {
    response = await fetch(`${target.fhirBaseUrl}/${path}`, {
      method,
      headers: {
        accept: 'application/fhir+json',
        ...(body === undefined ? {} : { 'content-type': 'application/fhir+json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(target.timeoutMs),
    });
  } catch (err) {
    const timedOut = err instanceof Error && err.name === 'TimeoutError';
    throw new UpstreamError(
      timedOut ? 504 : 502,
      timedOut
        ? `The FHIR server did not respond within ${target.timeoutMs} ms.`
        : `The FHIR server at ${target.fhirBaseUrl} is not reachable; retry later.`
    );
  }
  const text = await response.text();
  return {
    status: response.status,
    resource: text === '' ? undefined : (JSON.parse(text) as Resource),
    headers: response.headers,
  };
}

/**
 * Reads one resource, or returns undefined when the server responds with 404 or 410.
 * @throws UpstreamError for any other failure.
 */
export async function readResource<T extends Resource>(
  target: FhirTarget,
  resourceType: T['resourceType'],
  id: string
): Promise<T | undefined> {
  const { status, resource } = await callFhir(target, 'GET', `${resourceType}/${encodeURIComponent(id)}`);
  if (status === 404 || status === 410) {
    return undefined;
  }
  if (status !== 200 || resource?.resourceType !== resourceType) {
    throw new UpstreamError(502, `Reading ${resourceType}/${id} returned HTTP ${status}.`);
  }
  return resource as T;
}

/**
 * Runs a search and returns the matching resources of the searched type (one page of up to `_count`).
 * @throws UpstreamError when the search fails.
 */
export async function searchResources<T extends Resource>(
  target: FhirTarget,
  resourceType: T['resourceType'],
  query: string
): Promise<T[]> {
  const { status, resource } = await callFhir(target, 'GET', `${resourceType}?${query}`);
  if (status !== 200 || resource?.resourceType !== 'Bundle') {
    throw new UpstreamError(502, `Searching ${resourceType} returned HTTP ${status}.`);
  }
  return ((resource as Bundle<T>).entry ?? [])
    .map((entry) => entry.resource)
    .filter((candidate): candidate is T => candidate?.resourceType === resourceType);
}

/** The identity of a monitored model, as its Device states it. */
export interface ModelIdentity {
  deviceId: string;
  modelId: string;
  /** Device.version[0].value; `unversioned` when absent, as the analyzers store it. */
  modelVersion: string;
  name: string;
  manufacturer: string | undefined;
  /** From the `Intended use:` note that `buildModelDevice` writes. */
  intendedUse: string | undefined;
  fdaSubmissionNumber: string | undefined;
}

/**
 * Reads a model Device and its identity.
 * @throws OperationNotFoundError when the Device does not exist; OperationInputError when it has no model
 *   id in MODEL_ID_SYSTEM, so it is not a monitored model.
 */
export async function readModelIdentity(target: FhirTarget, deviceId: string): Promise<ModelIdentity> {
  const device = await readResource<Device>(target, 'Device', deviceId);
  if (device === undefined) {
    throw new OperationNotFoundError(`Device/${deviceId} was not found.`);
  }
  const modelId = device.identifier?.find((identifier) => identifier.system === MODEL_ID_SYSTEM)?.value;
  if (modelId === undefined) {
    throw new OperationInputError(
      'id',
      `Device/${deviceId} is not a monitored AI model because it has no identifier in ${MODEL_ID_SYSTEM}; call the operation on a model Device.`
    );
  }
  const intendedUseNote = device.note?.find((note) => note.text.startsWith('Intended use:'));
  return {
    deviceId,
    modelId,
    modelVersion: device.version?.[0]?.value ?? 'unversioned',
    name: device.deviceName?.[0]?.name ?? modelId,
    manufacturer: device.manufacturer,
    intendedUse: intendedUseNote?.text.replace(/^Intended use:\s*/, ''),
    fdaSubmissionNumber: device.identifier?.find((identifier) => identifier.system === FDA_SUBMISSION_SYSTEM)
      ?.value,
  };
}
