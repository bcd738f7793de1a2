/**
 * Typed FHIR calls the analyzers make through fhir-kit-client: reads that tolerate deleted resources,
 * optimistic-locking updates (If-Match, https://hl7.org/fhir/R4/http.html#concurrency) and conditional
 * creates (If-None-Exist).
 */
import type { Bundle, Device, Flag, Observation, Resource } from '@medplum/fhirtypes';
import { ANALYZER_WRITE_SOURCE, type FhirClient } from '@monitormed/common';
import { VersionConflictError } from './version-conflict-error.js';

/**
 * Returns the HTTP status of a fhir-kit-client error.
 * @param err - Anything thrown by the client.
 * @returns The status, or undefined for network errors.
 */
export function httpStatusOf(err: unknown): number | undefined {
  return (err as { response?: { status?: number } } | undefined)?.response?.status;
}

/**
 * Reads a resource, returning undefined when it was deleted or never existed.
 * @param client - FHIR client.
 * @param resourceType - Resource type.
 * @param id - Logical id.
 * @returns The resource or undefined on 404 and 410.
 */
export async function readOptional<T extends Resource>(
  client: FhirClient,
  resourceType: T['resourceType'],
  id: string
): Promise<T | undefined> {
  try {
    return (await client.read({ resourceType, id })) as unknown as T;
  } catch (err) {
    const status = httpStatusOf(err);
    if (status === 404 || status === 410) {
      return undefined;
    }
    throw err;
  }
}

/**
 * Reads an Observation.
 * @param client - FHIR client.
 * @param id - Observation id.
 * @returns The Observation, or undefined when it was deleted.
 */
export function readObservation(client: FhirClient, id: string): Promise<Observation | undefined> {
  return readOptional<Observation>(client, 'Observation', id);
}

/**
 * Reads a Device.
 * @param client - FHIR client.
 * @param id - Device id.
 * @returns The Device, or undefined when it does not exist.
 */
export function readDevice(client: FhirClient, id: string): Promise<Device | undefined> {
  return readOptional<Device>(client, 'Device', id);
}

/** Result of {@link updateWithRetry}. */
export type UpdateOutcome = 'updated' | 'unchanged' | 'deleted';

/**
 * Applies `change` to the current version of a resource and writes it with `If-Match: W/"<versionId>"`.
 * When another writer got there first (412, or 409 which HAPI also uses for version conflicts), it reads
 * the resource again and reapplies `change`.
 * @param client - FHIR client.
 * @param resourceType - Resource type.
 * @param id - Resource id.
 * @param change - Returns the new resource, or undefined when nothing needs to be written.
 * @param maxAttempts - Writes to try before giving up.
 * @returns Whether the resource was updated, already up to date, or deleted.
 * @throws VersionConflictError after `maxAttempts` conflicts.
 */
export async function updateWithRetry<T extends Resource>(
  client: FhirClient,
  resourceType: T['resourceType'],
  id: string,
  change: (current: T) => T | undefined,
  maxAttempts = 5
): Promise<UpdateOutcome> {
  for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
    const current = await readOptional<T>(client, resourceType, id);
    if (current === undefined) {
      return 'deleted';
    }

    const next = change(current);
    if (next === undefined) {
      return 'unchanged';
    }

    const versionId = current.meta?.versionId;
    try {
      await client.update({
        resourceType,
        id,
        // The source marks the version as the analyzers' own, so its delivery queues no new analysis.
        body: { ...next, id, meta: { ...next.meta, source: ANALYZER_WRITE_SOURCE } },
        options: versionId === undefined ? {} : { headers: { 'If-Match': `W/"${versionId}"` } },
      });
      return 'updated';
    } catch (err) {
      const status = httpStatusOf(err);
      if (status !== 412 && status !== 409) {
        throw err;
      }
    }
  }

  throw new VersionConflictError(
    `${resourceType}/${id} changed during each of ${maxAttempts} update attempts; the job will be retried.`
  );
}

/**
 * Applies `change` to an Observation with {@link updateWithRetry}.
 * @param client - FHIR client.
 * @param id - Observation id.
 * @param change - Returns the new Observation, or undefined when nothing needs to be written.
 * @returns Whether the Observation was updated, already up to date, or deleted.
 */
export function updateObservationWithRetry(
  client: FhirClient,
  id: string,
  change: (current: Observation) => Observation | undefined
): Promise<UpdateOutcome> {
  return updateWithRetry<Observation>(client, 'Observation', id, change);
}

/**
 * Sets every active Flag with the given identifier to `inactive` and ends its period.
 * @param client - FHIR client.
 * @param identifierToken - Token search value of the Flag identifier.
 * @returns The number of Flags retired.
 */
export async function retireFlags(client: FhirClient, identifierToken: string): Promise<number> {
  const bundle = (await client.search({
    resourceType: 'Flag',
    searchParams: { identifier: identifierToken },
    // HAPI reuses the result of an identical search for a minute by default; this search must be current.
    options: { headers: { 'Cache-Control': 'no-cache' } },
  })) as unknown as Bundle<Flag>;

  let retired = 0;
  for (const entry of bundle.entry ?? []) {
    const id = entry.resource?.id;
    if (id === undefined || entry.resource?.status !== 'active') {
      continue;
    }
    const outcome = await updateWithRetry<Flag>(client, 'Flag', id, (flag) =>
      flag.status === 'active'
        ? { ...flag, status: 'inactive', period: { ...flag.period, end: new Date().toISOString() } }
        : undefined
    );
    if (outcome === 'updated') {
      retired += 1;
    }
  }
  return retired;
}

/**
 * Creates a Flag unless one matching `ifNoneExist` exists (conditional create).
 * @param client - FHIR client.
 * @param flag - The Flag to create.
 * @param ifNoneExist - Search query identifying an existing copy.
 * @returns The created or existing Flag's id when the server returns it.
 */
export async function createFlagIfAbsent(
  client: FhirClient,
  flag: Flag,
  ifNoneExist: string
): Promise<string | undefined> {
  const stored = (await client.create({
    resourceType: 'Flag',
    body: { ...flag },
    options: { headers: { 'If-None-Exist': ifNoneExist, Prefer: 'return=representation' } },
  })) as unknown as Partial<Flag>;
  return stored.id;
}
