/**
 * Logged pairs over FHIR: each AI result of a model (the output) with the patient's inputs at the result's
 * effective time (the latest vital sign or laboratory value within the lookback).
 */
import type { Bundle, Device, Observation, Resource } from '@medplum/fhirtypes';
import { AIAST_SEARCH, MODEL_ID_SYSTEM, type FhirClient } from '@monitormed/common';
import { isProbability } from '../stats/entropy.js';
import {
  encodeFeatures,
  inputCodes,
  pickInputsAt,
  type InputValues,
  type SurrogateFeatureSpec,
} from './features.js';
import type { SurrogatePair } from './train.js';
import { UNVERSIONED } from '../workers/model-resolution.js';

const LOINC = 'http://loinc.org';

/** Results per search page. */
const PAGE_SIZE = 200;

/** Range and limits of {@link extractPairs}. */
export interface PairExtractionOptions {
  /** Earliest effective time of the results, a FHIR dateTime (inclusive). */
  from?: string;
  /** Latest effective time of the results, a FHIR dateTime (exclusive). */
  to?: string;
  /** Maximum results read; defaults to 20 000. */
  maxResults?: number;
  /**
   * Model version whose results are read: only Devices with this Device.version[0].value (or
   * `unversioned` for a Device without version) count. Without it, the results of every version are read.
   */
  modelVersion?: string;
}

/** A pair with the result it came from. */
export interface LoggedPair extends SurrogatePair {
  observationId: string;
  values: InputValues;
}

/** Pairs and why the other results were left out. */
export interface ExtractedPairs {
  pairs: LoggedPair[];
  /** AI results read. */
  resultsRead: number;
  /** Results left out, by reason. */
  skipped: { invalidProbability: number; noPatient: number; noEffectiveTime: number; noInputs: number };
}

/** Thrown when no AI model Device carries the model id, so the model has no results on the server. */
export class ModelDeviceNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelDeviceNotFoundError';
  }
}

/**
 * Reads a model's AI results and each result's inputs from the FHIR server.
 * @param fhir - FHIR client.
 * @param spec - Inputs of the model.
 * @param options - Effective-time range and limit.
 * @returns The pairs, in the order of the results' effective times. Results without any input value in
 *   the lookback are left out, because their features would only be the population defaults.
 * @throws ModelDeviceNotFoundError when no Device has the model id, or none has the requested version.
 */
export async function extractPairs(
  fhir: FhirClient,
  spec: SurrogateFeatureSpec,
  options: PairExtractionOptions = {}
): Promise<ExtractedPairs> {
  let devices = await searchAll<Device>(fhir, 'Device', {
    identifier: `${MODEL_ID_SYSTEM}|${spec.modelId}`,
  });
  if (devices.length === 0) {
    throw new ModelDeviceNotFoundError(
      `No Device with identifier ${MODEL_ID_SYSTEM}|${spec.modelId} exists on the FHIR server, so model ${spec.modelId} has no results there.`
    );
  }
  const { modelVersion } = options;
  if (modelVersion !== undefined) {
    const versionOf = (device: Device): string => device.version?.[0]?.value ?? UNVERSIONED;
    const found = [...new Set(devices.map(versionOf))].sort();
    devices = devices.filter((device) => versionOf(device) === modelVersion);
    if (devices.length === 0) {
      throw new ModelDeviceNotFoundError(
        `No Device of model ${spec.modelId} has version ${modelVersion} on the FHIR server; its Devices have version(s) ${found.join(', ')}.`
      );
    }
  }

  const dates: string[] = [];
  if (options.from !== undefined) {
    dates.push(`ge${options.from}`);
  }
  if (options.to !== undefined) {
    dates.push(`lt${options.to}`);
  }
  const results = await searchAll<Observation>(
    fhir,
    'Observation',
    {
      device: devices.map((device) => `Device/${device.id ?? ''}`).join(','),
      _security: AIAST_SEARCH,
      _sort: 'date',
      ...(dates.length > 0 ? { date: dates } : {}),
    },
    options.maxResults ?? 20_000
  );

  const extracted: ExtractedPairs = {
    pairs: [],
    resultsRead: results.length,
    skipped: { invalidProbability: 0, noPatient: 0, noEffectiveTime: 0, noInputs: 0 },
  };
  const byPatient = new Map<string, { observation: Observation; atMs: number; probability: number }[]>();
  for (const observation of results) {
    const probability = observation.valueQuantity?.value;
    const patientId = patientIdOf(observation);
    const atMs = Date.parse(observation.effectiveDateTime ?? '');
    if (!isProbability(probability)) {
      extracted.skipped.invalidProbability += 1;
    } else if (patientId === undefined) {
      extracted.skipped.noPatient += 1;
    } else if (Number.isNaN(atMs)) {
      extracted.skipped.noEffectiveTime += 1;
    } else {
      const list = byPatient.get(patientId) ?? [];
      list.push({ observation, atMs, probability });
      byPatient.set(patientId, list);
    }
  }

  for (const [patientId, patientResults] of byPatient) {
    const times = patientResults.map((result) => result.atMs);
    const inputs = await searchInputObservations(
      fhir,
      spec,
      patientId,
      Math.min(...times),
      Math.max(...times)
    );
    for (const result of patientResults) {
      const values = pickInputsAt(spec, inputs, result.atMs);
      if (Object.keys(values).length === 0) {
        extracted.skipped.noInputs += 1;
        continue;
      }
      extracted.pairs.push({
        observationId: result.observation.id ?? '',
        features: encodeFeatures(spec, values),
        probability: result.probability,
        values,
      });
    }
  }
  return extracted;
}

/**
 * Gathers the inputs of one AI result: the patient's latest values within the lookback before `atMs`.
 * @param fhir - FHIR client.
 * @param spec - Inputs of the model.
 * @param patientId - The result's subject.
 * @param atMs - The result's effective time, in milliseconds since the epoch.
 * @returns The values found; an absent name is missing.
 */
export async function gatherInputs(
  fhir: FhirClient,
  spec: SurrogateFeatureSpec,
  patientId: string,
  atMs: number
): Promise<InputValues> {
  const observations = await searchInputObservations(fhir, spec, patientId, atMs, atMs);
  return pickInputsAt(spec, observations, atMs);
}

/** Searches a patient's Observations of the input codes from the lookback before `fromMs` to `toMs`. */
async function searchInputObservations(
  fhir: FhirClient,
  spec: SurrogateFeatureSpec,
  patientId: string,
  fromMs: number,
  toMs: number
): Promise<Observation[]> {
  const earliest = new Date(fromMs - spec.lookbackHours * 3_600_000).toISOString();
  const latest = new Date(toMs).toISOString();
  return searchAll<Observation>(fhir, 'Observation', {
    subject: `Patient/${patientId}`,
    code: inputCodes(spec)
      .map((code) => `${LOINC}|${code}`)
      .join(','),
    date: [`ge${earliest}`, `le${latest}`],
    _sort: '-date',
  });
}

/** Runs a search and follows its `next` links until `limit` resources or the last page. */
async function searchAll<T extends Resource>(
  fhir: FhirClient,
  resourceType: T['resourceType'],
  searchParams: Record<string, string | string[]>,
  limit = 100_000
): Promise<T[]> {
  const resources: T[] = [];
  let bundle = (await fhir.search({
    resourceType,
    searchParams: { ...searchParams, _count: PAGE_SIZE },
    options: { headers: { 'Cache-Control': 'no-cache' } },
  })) as unknown as Bundle<T>;

  for (;;) {
    for (const entry of bundle.entry ?? []) {
      if (entry.resource?.resourceType === resourceType && entry.search?.mode !== 'include') {
        resources.push(entry.resource);
      }
    }
    if (resources.length >= limit) {
      return resources.slice(0, limit);
    }
    const nextUrl = bundle.link?.find((link) => link.relation === 'next')?.url;
    if (nextUrl === undefined) {
      return resources;
    }
    const page = { resourceType: 'Bundle' as const, link: [{ relation: 'next', url: nextUrl }] };
    bundle = (await fhir.nextPage({
      bundle: page,
      options: { headers: { 'Cache-Control': 'no-cache' } },
    })) as unknown as Bundle<T>;
  }
}

function patientIdOf(observation: Observation): string | undefined {
  const reference = observation.subject?.reference;
  const match = reference === undefined ? null : /^(?:.*\/)?Patient\/([^/]+)$/.exec(reference);
  return match?.[1];
}
