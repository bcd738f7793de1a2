/**
 * Registration of a model's Device on the FHIR server. A model without a Device gets one. A Device that
 * is already stored, for example one created before the catalog had regulatory identifiers, is brought
 * up to date with the catalog by an update with If-Match on its version, so a concurrent change is
 * never overwritten.
 */
import { deepClone, deepEquals } from '@medplum/core';
import type { Bundle, Device, DocumentReference, Extension, Identifier } from '@medplum/fhirtypes';
import { RESPONSE_KEY } from 'fhir-kit-client';
import {
  AI_KIND_EXTENSION,
  INTENDED_USE_NOTE_PREFIX,
  MODEL_CARD_EXTENSION,
  buildModelDevice,
  modelDeviceQuery,
} from './devices.js';
import type { FhirClient } from './fhir-client.js';
import { MODEL_ID_SYSTEM } from './fhir-codes.js';
import { buildModelCard, modelCardQuery } from './model-card.js';
import type { AiModelDefinition } from './models.js';

/** Outcome of {@link registerModel}. */
export interface ModelRegistration {
  modelId: string;
  deviceId: string;
  /** `created` for a new Device, `updated` when the stored one changed, `unchanged` when it was current. */
  action: 'created' | 'updated' | 'unchanged';
  /** `meta.versionId` of the Device after registration. */
  versionId: string | undefined;
  /** Id of the model card DocumentReference, when the catalog has a card. */
  modelCardId: string | undefined;
}

/** Thrown when registration cannot finish; the message names the model and what to do. */
export class ModelRegistrationError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ModelRegistrationError';
  }
}

/** Options of {@link registerModel}. */
export interface RegisterModelOptions {
  /** Updates tried when another writer changes the Device in between; defaults to 3. */
  maxAttempts?: number;
  /** Time limit of each FHIR request in milliseconds; defaults to 30 000. */
  timeoutMs?: number;
}

/**
 * Replaces each stored entry whose key a catalog entry has with that catalog entry, in place, and appends
 * the catalog entries whose key no stored entry has.
 */
function mergeByKey<T>(
  stored: readonly T[],
  fromCatalog: readonly T[],
  key: (item: T) => string | undefined
): T[] {
  const catalogKeys = new Set(fromCatalog.map(key));
  const placed = new Set<string | undefined>();
  const merged: T[] = [];
  for (const item of stored) {
    const itemKey = key(item);
    if (!catalogKeys.has(itemKey)) {
      merged.push(item);
    } else if (!placed.has(itemKey)) {
      // The catalog is the source of each value it gives, so a stored duplicate of that key is dropped.
      merged.push(fromCatalog.find((candidate) => key(candidate) === itemKey) as T);
      placed.add(itemKey);
    }
  }
  return [...merged, ...fromCatalog.filter((item) => !placed.has(key(item)))];
}

/**
 * Merges the catalog's view of a model into its stored Device. The catalog's values replace the stored
 * model id, FDA submission number and DICOM Device UID identifiers, the AIKind and model card
 * extensions, the intended use note, the model name, manufacturer, type, status and version. Everything
 * else stays, such as identifiers of other systems and other notes. A value the catalog does not give,
 * such as a model card it lacks, keeps its stored value.
 * @param stored - The Device as the FHIR server returned it.
 * @param model - The model definition from the catalog.
 * @param modelCardReference - Reference to the model version's AI-ModelCard DocumentReference.
 * @returns The Device to store, with the stored id and meta, or undefined when it is already current.
 */
export function mergeModelDevice(
  stored: Device,
  model: AiModelDefinition,
  modelCardReference?: string
): Device | undefined {
  const catalogDevice = buildModelDevice(model, modelCardReference);
  const merged = deepClone(stored);

  merged.identifier = mergeByKey<Identifier>(
    stored.identifier ?? [],
    catalogDevice.identifier ?? [],
    (identifier) => identifier.system
  );
  merged.extension = mergeByKey<Extension>(
    stored.extension ?? [],
    (catalogDevice.extension ?? []).filter(
      (extension) => extension.url === AI_KIND_EXTENSION || extension.url === MODEL_CARD_EXTENSION
    ),
    (extension) => extension.url
  );
  merged.note = mergeByKey(stored.note ?? [], catalogDevice.note ?? [], (note) =>
    note.text.startsWith(INTENDED_USE_NOTE_PREFIX) ? INTENDED_USE_NOTE_PREFIX : note.text
  );
  merged.deviceName = mergeByKey(
    stored.deviceName ?? [],
    catalogDevice.deviceName ?? [],
    (name) => name.type
  );
  // Typed version entries (a component's version) are not the model version, so they stay.
  merged.version = mergeByKey(stored.version ?? [], catalogDevice.version ?? [], (version) =>
    version.type === undefined ? 'model' : JSON.stringify(version.type)
  );
  merged.status = catalogDevice.status;
  merged.manufacturer = catalogDevice.manufacturer;
  merged.type = catalogDevice.type;
  if (model.manufacturerModelId !== undefined || stored.modelNumber === undefined) {
    merged.modelNumber = catalogDevice.modelNumber;
  }
  return deepEquals(merged, stored) ? undefined : merged;
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { response?: { status?: unknown } } | undefined)?.response?.status;
  return typeof status === 'number' ? status : undefined;
}

function httpStatusOf(result: object): number | undefined {
  return (result as { [RESPONSE_KEY]?: Response })[RESPONSE_KEY]?.status;
}

async function ensureModelCard(
  client: FhirClient,
  model: AiModelDefinition,
  timeoutMs: number
): Promise<string | undefined> {
  if (model.modelCard === undefined) {
    return undefined;
  }
  const card = (await client.create({
    resourceType: 'DocumentReference',
    body: { ...buildModelCard(model, model.modelCard) },
    options: {
      headers: { 'If-None-Exist': modelCardQuery(model), Prefer: 'return=representation' },
      signal: AbortSignal.timeout(timeoutMs),
    },
  })) as unknown as DocumentReference;
  if (card.id === undefined) {
    throw new ModelRegistrationError(
      `The FHIR server returned no id for the model card of ${model.modelId}.`
    );
  }
  return card.id;
}

async function findModelDevices(client: FhirClient, modelId: string, timeoutMs: number): Promise<Device[]> {
  const bundle = (await client.search({
    resourceType: 'Device',
    searchParams: { identifier: `${MODEL_ID_SYSTEM}|${modelId}` },
    // HAPI FHIR reuses an identical search's results for a minute unless the request sends no-cache.
    options: { headers: { 'Cache-Control': 'no-cache' }, signal: AbortSignal.timeout(timeoutMs) },
  })) as unknown as Bundle<Device>;
  return (bundle.entry ?? []).flatMap((entry) => (entry.resource === undefined ? [] : [entry.resource]));
}

/**
 * Registers a model on the FHIR server: its model card DocumentReference (created once per model
 * version) and its Device, found by the model id identifier. A missing Device is created with
 * If-None-Exist. A stored Device that differs from the catalog is updated with If-Match on its
 * `meta.versionId`. When another writer changed it in between (HTTP 409 or 412), the Device is read and
 * merged again, up to `maxAttempts` times.
 * @param client - A fhir-kit-client for the FHIR server.
 * @param model - The model definition from the catalog.
 * @returns What was done, with the Device id and version.
 * @throws ModelRegistrationError when several Devices carry the model id, or the Device kept changing.
 * @throws The fhir-kit-client error of any other failed request, with `response.status`.
 */
export async function registerModel(
  client: FhirClient,
  model: AiModelDefinition,
  options: RegisterModelOptions = {}
): Promise<ModelRegistration> {
  const maxAttempts = options.maxAttempts ?? 3;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const modelCardId = await ensureModelCard(client, model, timeoutMs);
  const cardReference = modelCardId === undefined ? undefined : `DocumentReference/${modelCardId}`;
  const done = (device: Device, action: ModelRegistration['action']): ModelRegistration => ({
    modelId: model.modelId,
    deviceId: device.id ?? '',
    action,
    versionId: device.meta?.versionId,
    modelCardId,
  });

  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const found = await findModelDevices(client, model.modelId, timeoutMs);
    if (found.length > 1) {
      const ids = found.map((device) => `Device/${device.id ?? ''}`).join(', ');
      throw new ModelRegistrationError(
        `${found.length} Devices carry model id ${model.modelId} (${ids}); delete all but one, then register again.`
      );
    }

    let stored = found[0];
    if (stored === undefined) {
      const created = (await client.create({
        resourceType: 'Device',
        body: { ...buildModelDevice(model, cardReference) },
        options: {
          headers: { 'If-None-Exist': modelDeviceQuery(model.modelId), Prefer: 'return=representation' },
          signal: AbortSignal.timeout(timeoutMs),
        },
      })) as unknown as Device;
      if (httpStatusOf(created) === 201) {
        return done(created, 'created');
      }
      // Another writer created the Device since the search; it may come from an older catalog.
      stored = created;
    }

    const merged = mergeModelDevice(stored, model, cardReference);
    if (merged === undefined) {
      return done(stored, 'unchanged');
    }
    try {
      const updated = (await client.update({
        resourceType: 'Device',
        id: stored.id ?? '',
        body: { ...merged },
        options: {
          headers: { 'If-Match': `W/"${stored.meta?.versionId ?? ''}"`, Prefer: 'return=representation' },
          signal: AbortSignal.timeout(timeoutMs),
        },
      })) as unknown as Device;
      return done(updated, 'updated');
    } catch (err) {
      // HAPI FHIR 8.8 rejects a stale If-Match with 409, and R4 specifies 412. Both mean: read and merge again.
      const status = statusOf(err);
      if (status !== 409 && status !== 412) {
        throw err;
      }
    }
  }
  throw new ModelRegistrationError(
    `The Device of model ${model.modelId} changed during each of ${maxAttempts} update attempts; register again.`
  );
}
