import type { Bundle, BundleEntry, Device } from '@medplum/fhirtypes';
import type { FhirClient, Logger } from '@monitormed/common';

/** Resolved Device ids per FHIR client and conditional-create query, shared by every concurrent attempt. */
const resolved = new WeakMap<FhirClient, Map<string, Promise<string>>>();

async function findOrCreateDevice(
  fhir: FhirClient,
  entry: BundleEntry,
  query: string,
  logger: Logger
): Promise<string> {
  const searchParams = Object.fromEntries(new URLSearchParams(query));
  const found = (await fhir.search({
    resourceType: 'Device',
    searchParams: { ...searchParams, _sort: '_lastUpdated', _count: '1' },
    options: { headers: { 'Cache-Control': 'no-cache' } },
  })) as unknown as Bundle<Device>;
  const existing = found.entry?.[0]?.resource?.id;
  if (existing !== undefined) {
    if ((found.total ?? 1) > 1) {
      logger.warn(
        { deviceId: existing, matches: found.total },
        'Several model Devices share one identifier; using the oldest'
      );
    }
    return existing;
  }

  const created = (await fhir.create({
    resourceType: 'Device',
    body: entry.resource as unknown as Parameters<FhirClient['create']>[0]['body'],
  })) as unknown as Device;
  return created.id ?? '';
}

/**
 * Replaces the conditional creates of model Devices in a result transaction with references to Devices
 * found (or created) once per process. HAPI FHIR's conditional create (`ifNoneExist`) is not atomic, so
 * transactions running in parallel for different patients could each create the model Device. Once two
 * Devices share the identifier, every conditional create fails with HTTP 412. Here the oldest match is
 * used, and concurrent attempts in this process share one lookup.
 * NOTE: two listener processes can still each create the Device when it does not exist yet.
 * @param fhir - Client the lookups and the create go through.
 * @returns A bundle without Device entries, whose references point at `Device/{id}`.
 * @throws The FHIR client's error when the search or create fails; the caller classifies it.
 */
export async function resolveModelDevices(fhir: FhirClient, bundle: Bundle, logger: Logger): Promise<Bundle> {
  const cache = resolved.get(fhir) ?? new Map<string, Promise<string>>();
  resolved.set(fhir, cache);

  const replacements = new Map<string, string>();
  const otherEntries: BundleEntry[] = [];
  for (const entry of bundle.entry ?? []) {
    const query = entry.request?.ifNoneExist;
    if (entry.resource?.resourceType !== 'Device' || query === undefined || entry.fullUrl === undefined) {
      otherEntries.push(entry);
      continue;
    }
    let lookup = cache.get(query);
    if (lookup === undefined) {
      lookup = findOrCreateDevice(fhir, entry, query, logger);
      cache.set(query, lookup);
      // A failed lookup is forgotten, so the next attempt queries the server again.
      lookup.catch(() => cache.delete(query));
    }
    replacements.set(entry.fullUrl, `Device/${await lookup}`);
  }
  if (replacements.size === 0) {
    return bundle;
  }

  // Placeholders are random `urn:uuid:` values, so replacing them as whole JSON strings is exact.
  let json = JSON.stringify({ ...bundle, entry: otherEntries });
  for (const [placeholder, reference] of replacements) {
    json = json.split(JSON.stringify(placeholder)).join(JSON.stringify(reference));
  }
  return JSON.parse(json) as Bundle;
}
