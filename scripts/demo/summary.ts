import { COLLECTIONS, FLAG_ID_SYSTEM, MODEL_ID_SYSTEM, type MongoHandle } from '@monitormed/common';
import type { Bundle } from '@medplum/fhirtypes';

/** Drift verdict of one model over the simulated days. */
export interface ModelDriftSummary {
  /** Id of the model's Device in the FHIR server, or null when none was found. */
  deviceId: string | null;
  /** True when the output-drift KS test detected drift in at least one window. */
  driftDetected: boolean;
  /** First window (UTC day) with drift detected, or null. */
  firstDriftWindow: string | null;
  /** Every tested window with its p-value and verdict, in order. */
  windows: { window: string; status: string; pValue: number | null; n: number }[];
  /** AI-labelled Observations of this model written or updated during the run. */
  observations: number;
}

/** Counts read back from the FHIR server and MongoDB after the analysis settled. */
export interface StackCounts {
  observations: number;
  flags: number;
  models: Record<string, ModelDriftSummary>;
}

interface DriftMetric {
  window: string;
  status?: string;
  value: number | null;
  n: number;
  detected?: boolean;
}

async function fetchJson<T>(url: string): Promise<T> {
  // HAPI reuses a search's results for a minute by default; the counts must include the latest writes.
  const response = await fetch(url, {
    headers: { accept: 'application/fhir+json', 'cache-control': 'no-cache' },
  });
  if (!response.ok) {
    throw new Error(`GET ${url} failed with HTTP ${response.status}.`);
  }
  return (await response.json()) as T;
}

/**
 * Counts the resources a search matches, with `_summary=count` and no cached results.
 * @param query - Resource type and search parameters, such as `Observation?code=...`.
 */
export async function countResources(fhirBaseUrl: string, query: string): Promise<number> {
  const bundle = await fetchJson<Bundle>(`${fhirBaseUrl}/${query}&_summary=count`);
  return bundle.total ?? 0;
}

async function findDeviceId(fhirBaseUrl: string, modelId: string): Promise<string | undefined> {
  const bundle = await fetchJson<Bundle>(
    `${fhirBaseUrl}/Device?identifier=${encodeURIComponent(`${MODEL_ID_SYSTEM}|${modelId}`)}&_elements=id`
  );
  return bundle.entry?.[0]?.resource?.id;
}

/**
 * Reads what the run produced: AI Observations per model and monitoring Flags in the FHIR server, and
 * the output-drift metric of every window in MongoDB.
 * @param fhirBaseUrl - FHIR base URL.
 * @param mongo - The demo's MongoDB database.
 * @param modelIds - Models to summarise.
 * @param since - Start of the run; only resources written or updated since then count.
 * @returns The counts and each model's drift verdict.
 */
export async function collectCounts(
  fhirBaseUrl: string,
  mongo: MongoHandle,
  modelIds: string[],
  since: Date
): Promise<StackCounts> {
  const lastUpdated = `_lastUpdated=ge${since.toISOString()}`;
  const models: Record<string, ModelDriftSummary> = {};
  let observations = 0;

  for (const modelId of modelIds) {
    const deviceId = await findDeviceId(fhirBaseUrl, modelId);
    const modelObservations =
      deviceId === undefined
        ? 0
        : await countResources(fhirBaseUrl, `Observation?device=Device/${deviceId}&${lastUpdated}`);
    observations += modelObservations;

    // A plain find sorted by window: FerretDB has no $group accumulators beyond $sum and $count.
    const metrics = await mongo.db
      .collection<DriftMetric>(COLLECTIONS.metrics)
      .find({ modelId, metric: 'output-drift-ks', subgroup: 'all' })
      .sort({ window: 1 })
      .toArray();
    const drifted = metrics.filter((m) => m.detected === true);

    models[modelId] = {
      deviceId: deviceId ?? null,
      driftDetected: drifted.length > 0,
      firstDriftWindow: drifted[0]?.window ?? null,
      windows: metrics.map((m) => ({
        window: m.window,
        status: m.status ?? 'unknown',
        pValue: m.value,
        n: m.n,
      })),
      observations: modelObservations,
    };
  }

  const flags = await countResources(
    fhirBaseUrl,
    `Flag?identifier=${encodeURIComponent(`${FLAG_ID_SYSTEM}|`)}&${lastUpdated}`
  );
  return { observations, flags, models };
}
