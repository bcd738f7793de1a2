import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import type { FhirClient, Logger } from '@monitormed/common';

/** Resolved resource ids per FHIR client and conditional-create query, shared by every concurrent attempt. */
const resolved = new WeakMap<FhirClient, Map<string, Promise<string>>>();

/**
 * Finds the oldest resource matching a conditional-create query, or creates it.
 * @returns The resource id.
 */
async function findOrCreate(
  fhir: FhirClient,
  resource: Resource,
  query: string,
  logger: Logger
): Promise<string> {
  const searchParams = Object.fromEntries(new URLSearchParams(query));
  const found = (await fhir.search({
    resourceType: resource.resourceType,
    searchParams: { ...searchParams, _sort: '_lastUpdated', _count: '1' },
    options: { headers: { 'Cache-Control': 'no-cache' } },
  })) as unknown as Bundle;
  const existing = found.entry?.[0]?.resource?.id;
  if (existing !== undefined) {
    if ((found.total ?? 1) > 1) {
      logger.warn(
        { resourceType: resource.resourceType, id: existing, matches: found.total },
        'Several model resources share one identifier; using the oldest'
      );
    }
    return existing;
  }

  const created = (await fhir.create({
    resourceType: resource.resourceType,
    body: resource as unknown as Parameters<FhirClient['create']>[0]['body'],
  })) as unknown as Resource;
  return created.id ?? '';
}

/** Replaces placeholders as whole JSON strings; they are random `urn:uuid:` values, so this is exact. */
function replacePlaceholders<T>(value: T, replacements: Map<string, string>): T {
  let json = JSON.stringify(value);
  for (const [placeholder, reference] of replacements) {
    json = json.split(JSON.stringify(placeholder)).join(JSON.stringify(reference));
  }
  return JSON.parse(json) as T;
}

/**
 * Replaces the conditional creates of model Devices in a result transaction, and of the model card
 * DocumentReferences they point to, with references to resources found (or created) once per process.
 * HAPI FHIR's conditional create (`ifNoneExist`) is not atomic, so transactions running in parallel for
 * different patients could each create the model's Device or card. Once two share the identifier, every
 * conditional create fails with HTTP 412. Here the oldest match is used, and concurrent attempts in this
 * process share one lookup. A card is resolved before its Device, so a new Device points at the card's id.
 * NOTE: two listener processes can still each create the Device or card when it does not exist yet.
 * @param fhir - Client the lookups and the creates go through.
 * @returns A bundle without Device and model card entries, whose references point at their ids.
 * @throws The FHIR client's error when a search or create fails; the caller classifies it.
 */
export async function resolveModelDevices(fhir: FhirClient, bundle: Bundle, logger: Logger): Promise<Bundle> {
  const cache = resolved.get(fhir) ?? new Map<string, Promise<string>>();
  resolved.set(fhir, cache);

  const entries = bundle.entry ?? [];
  const devices = entries.filter(
    (entry) => entry.resource?.resourceType === 'Device' && entry.request?.ifNoneExist !== undefined
  );
  if (devices.length === 0) {
    return bundle;
  }
  // A model card is an entry that a Device entry refers to.
  const deviceJson = JSON.stringify(devices.map((entry) => entry.resource));
  const cards = entries.filter(
    (entry) =>
      entry.resource?.resourceType === 'DocumentReference' &&
      entry.request?.ifNoneExist !== undefined &&
      entry.fullUrl !== undefined &&
      deviceJson.includes(JSON.stringify(entry.fullUrl))
  );

  const replacements = new Map<string, string>();
  const resolve = async (entry: BundleEntry): Promise<void> => {
    const query = entry.request?.ifNoneExist ?? '';
    const resource = entry.resource;
    if (resource === undefined || entry.fullUrl === undefined) {
      return;
    }
    const key = `${resource.resourceType}?${query}`;
    let lookup = cache.get(key);
    if (lookup === undefined) {
      lookup = findOrCreate(fhir, replacePlaceholders(resource, replacements), query, logger);
      cache.set(key, lookup);
      // A failed lookup is forgotten, so the next attempt queries the server again.
      lookup.catch(() => cache.delete(key));
    }
    replacements.set(entry.fullUrl, `${resource.resourceType}/${await lookup}`);
  };
  for (const card of cards) {
    await resolve(card);
  }
  for (const device of devices) {
    await resolve(device);
  }

  const removed = new Set<BundleEntry>([...cards, ...devices]);
  return replacePlaceholders(
    { ...bundle, entry: entries.filter((entry) => !removed.has(entry)) },
    replacements
  );
}
