/**
 * Output drift on the real peers: analysis jobs are queued directly (the subscription path is covered by
 * pipeline.test.ts), the drift worker tests later windows against the first three, and writes metrics,
 * DRIFT_EXTENSION and model-drift Flags.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Bundle, Flag, Observation } from '@medplum/fhirtypes';
import {
  ANALYZE_QUEUE,
  analyzeJobId,
  COLLECTIONS,
  connectMongo,
  DRIFT_EXTENSION,
  DRIFT_QUEUE,
  driftJobId,
  FLAG_CODES,
  FLAG_ID_SYSTEM,
  type AnalyzeResultJob,
  type EvaluateDriftJob,
  type MongoHandle,
} from '@monitormed/common';
import Bull from 'bull';
import { startAnalyzers, type Analyzers } from './analyzers.js';
import { readDriftReference } from './fhir/extensions.js';
import { METRIC_OBSERVATION_ID_SYSTEM } from './fhir/metric-observations.js';
import type { MetricDocument, MetricName } from './store/documents.js';
import { generateSample } from './testing/seeded-samples.js';
import {
  createAiObservation,
  createTestModelDevice,
  createTestPatient,
  createTestRun,
  dropTestDatabase,
  requirePeers,
  waitFor,
} from './testing/stack.js';

const run = createTestRun();
const RESULTS_PER_WINDOW = 15;
const REFERENCE_WINDOWS = ['2025-03-01', '2025-03-02', '2025-03-03'];
const SHIFTED_WINDOW = '2025-03-04';
const STABLE_WINDOW = '2025-03-05';

let analyzers: Analyzers | undefined;
let mongo: MongoHandle | undefined;
let queue: Bull.Queue<AnalyzeResultJob> | undefined;
let modelId = '';
let deviceId = '';
const observationsByWindow = new Map<string, string[]>();

/** Scores around 0.2 (0.05 to 0.35) for the reference and stable windows, around 0.6 for the shifted one. */
function scoresFor(window: string, seed: number): number[] {
  const shift = window === SHIFTED_WINDOW ? 0.45 : 0.05;
  return generateSample({ seed, n: RESULTS_PER_WINDOW, shift, scale: 0.3, terms: 3 });
}

async function metricFor(window: string, metric: MetricName): Promise<MetricDocument | undefined> {
  const found = await mongo?.db
    .collection<MetricDocument>(COLLECTIONS.metrics)
    .findOne({ modelId, metric, window });
  return found ?? undefined;
}

/** Waits until the window was tested against the complete reference with all its results. */
async function waitForSettledDrift(window: string): Promise<MetricDocument> {
  return waitFor(
    `output-drift-ks of ${window} with n=${RESULTS_PER_WINDOW} and the full reference`,
    async () => {
      const metric = await metricFor(window, 'output-drift-ks');
      const settled =
        metric?.n === RESULTS_PER_WINDOW &&
        metric.referenceN === RESULTS_PER_WINDOW * REFERENCE_WINDOWS.length;
      return settled ? metric : undefined;
    },
    90_000
  );
}

async function driftExtensionOf(observationId: string): Promise<Map<string, unknown> | undefined> {
  const observation = (await run.fhir.read({
    resourceType: 'Observation',
    id: observationId,
  })) as unknown as Observation;
  const extension = observation.extension?.find((candidate) => candidate.url === DRIFT_EXTENSION);
  if (extension === undefined) {
    return undefined;
  }
  const parts = new Map<string, unknown>();
  for (const part of extension.extension ?? []) {
    parts.set(part.url, part.valueBoolean ?? part.valueDecimal ?? part.valueString ?? part.valueCode);
  }
  return parts;
}

async function driftFlags(observationId: string): Promise<Flag[]> {
  const bundle = (await run.fhir.search({
    resourceType: 'Flag',
    searchParams: { identifier: `${FLAG_ID_SYSTEM}|${observationId}\\|${FLAG_CODES.modelDrift.code}` },
    options: { headers: { 'Cache-Control': 'no-cache' } },
  })) as unknown as Bundle<Flag>;
  return (bundle.entry ?? []).flatMap((entry) => (entry.resource === undefined ? [] : [entry.resource]));
}

async function countDriftFlags(observationId: string): Promise<number> {
  return (await driftFlags(observationId)).length;
}

void describe('output drift evaluation', () => {
  before(async () => {
    await requirePeers(run.config);
    const device = await createTestModelDevice(run);
    modelId = device.modelId;
    deviceId = device.deviceId;
    const patients = [
      await createTestPatient(run),
      await createTestPatient(run),
      await createTestPatient(run),
    ];

    analyzers = await startAnalyzers({
      config: run.config,
      queuePrefix: run.queuePrefix,
      settings: {
        driftDebounceMs: 500,
        driftReferenceWindows: 3,
        driftPThreshold: 0.01,
        driftMinWindowN: 10,
      },
    });
    mongo = await connectMongo(run.config);
    queue = new Bull<AnalyzeResultJob>(ANALYZE_QUEUE, run.config.redisUrl, { prefix: run.queuePrefix });

    const windows = [...REFERENCE_WINDOWS, SHIFTED_WINDOW, STABLE_WINDOW];
    for (const [windowIndex, window] of windows.entries()) {
      const ids: string[] = [];
      for (const [index, score] of scoresFor(window, 100 + windowIndex).entries()) {
        const effective = `${window}T${String(8 + (index % 10)).padStart(2, '0')}:${String(index).padStart(2, '0')}:00Z`;
        const patientId = patients[index % patients.length] ?? '';
        const observation = await createAiObservation(run, {
          deviceId: device.deviceId,
          patientId,
          score,
          effective,
        });
        ids.push(observation.id);

        const job: AnalyzeResultJob = {
          resourceType: 'Observation',
          id: observation.id,
          versionId: observation.meta?.versionId ?? '1',
        };
        await queue.add(job, {
          jobId: analyzeJobId(job),
          attempts: 3,
          backoff: { type: 'exponential', delay: 500 },
        });
      }
      observationsByWindow.set(window, ids);
    }
  });

  after(async () => {
    // Remove this run's jobs from Redis; the prefix is never used again.
    await queue?.obliterate({ force: true });
    await queue?.close();
    await analyzers?.close();
    await mongo?.client.close();
    await dropTestDatabase(run.config);
  });

  void it('reference windows are not tested', async () => {
    for (const window of REFERENCE_WINDOWS) {
      const metric = await waitFor(
        `output-drift-ks of ${window}`,
        () => metricFor(window, 'output-drift-ks'),
        90_000
      );
      assert.equal(metric.status, 'reference');
      assert.equal(metric.value, null);
      assert.equal(metric.detected, false);
    }
  });

  void it('shifted window is detected as drift', async () => {
    const metric = await waitForSettledDrift(SHIFTED_WINDOW);
    assert.equal(metric.status, 'drift');
    assert.equal(metric.detected, true);
    assert.ok((metric.value ?? 1) < 0.01, `p-value ${String(metric.value)} should be below 0.01`);
    assert.ok((metric.statistic ?? 0) > 0.5);
    assert.equal(metric.pValueMethod, 'exact');
    assert.deepEqual(metric.referenceWindows, REFERENCE_WINDOWS);

    const psi = await metricFor(SHIFTED_WINDOW, 'output-psi');
    assert.ok((psi?.value ?? 0) > 0.1, `PSI ${String(psi?.value)} should exceed 0.1`);

    const entropyMean = await metricFor(SHIFTED_WINDOW, 'uncertainty-entropy-mean');
    assert.equal(entropyMean?.n, RESULTS_PER_WINDOW);
  });

  void it('shifted window has one metric Observation', async () => {
    const metric = await waitForSettledDrift(SHIFTED_WINDOW);
    const key = [modelId, metric.modelVersion, 'output-drift-ks', 'all', SHIFTED_WINDOW].join('|');
    const token = `${METRIC_OBSERVATION_ID_SYSTEM}|${key.replaceAll('|', '\\|')}`;
    // The window is evaluated more than once as its results arrive, so this also checks reruns.
    const observation = await waitFor(
      `metric Observation ${key} with n=${String(RESULTS_PER_WINDOW)}`,
      async () => {
        const bundle = (await run.fhir.search({
          resourceType: 'Observation',
          searchParams: { identifier: token },
          // HAPI reuses a search's results for 60 s by default, which would hide the later write.
          options: { headers: { 'Cache-Control': 'no-cache' } },
        })) as unknown as Bundle;
        assert.ok((bundle.entry?.length ?? 0) <= 1, `more than one metric Observation for ${key}`);
        const found = bundle.entry?.[0]?.resource as Observation | undefined;
        const sampleSize = found?.component?.find(
          (component) => component.code.coding?.[0]?.code === 'sample-size'
        );
        return sampleSize?.valueInteger === RESULTS_PER_WINDOW ? found : undefined;
      },
      60_000
    );
    assert.equal(observation.valueQuantity?.value, metric.value);
    assert.equal(observation.focus?.[0]?.reference, `Device/${deviceId}`);
    assert.match(observation.device?.reference ?? '', /^DeviceMetric\//);
    assert.equal(observation.effectivePeriod?.start, `${SHIFTED_WINDOW}T00:00:00.000Z`);
  });

  void it('shifted results carry drift extension and Flag', async () => {
    await waitForSettledDrift(SHIFTED_WINDOW);
    const ids = observationsByWindow.get(SHIFTED_WINDOW) ?? [];
    assert.equal(ids.length, RESULTS_PER_WINDOW);

    for (const id of ids) {
      const extension = await waitFor(`DRIFT_EXTENSION detected=true on Observation/${id}`, async () => {
        const parts = await driftExtensionOf(id);
        return parts?.get('detected') === true ? parts : undefined;
      });
      assert.equal(extension.get('test'), 'ks');
      assert.equal(extension.get('window'), SHIFTED_WINDOW);
      assert.equal(extension.get('threshold'), 0.01);

      // An evaluation that ran before every reference result was analysed recorded a smaller reference.
      const reference = await waitFor(`DRIFT_EXTENSION reference on Observation/${id}`, async () => {
        const observation = (await run.fhir.read({
          resourceType: 'Observation',
          id,
        })) as unknown as Observation;
        const found = readDriftReference(observation.extension);
        return found?.n === RESULTS_PER_WINDOW * REFERENCE_WINDOWS.length ? found : undefined;
      });
      assert.deepEqual(reference.windows, REFERENCE_WINDOWS);

      const flags = await waitFor(`model-drift Flag for Observation/${id}`, async () => {
        const count = await countDriftFlags(id);
        return count > 0 ? count : undefined;
      });
      assert.equal(flags, 1);
    }
  });

  void it('stricter threshold retires drift Flags', async () => {
    await waitForSettledDrift(SHIFTED_WINDOW);
    const id = observationsByWindow.get(SHIFTED_WINDOW)?.[0] ?? '';
    await waitFor(`model-drift Flag for Observation/${id}`, async () =>
      (await countDriftFlags(id)) > 0 ? true : undefined
    );

    // Restart the analyzers with a threshold no p-value here reaches and evaluate the shifted window again.
    await analyzers?.close();
    analyzers = await startAnalyzers({
      config: run.config,
      queuePrefix: run.queuePrefix,
      settings: { driftDebounceMs: 0, driftPThreshold: 1e-30 },
    });
    const driftQueue = new Bull<EvaluateDriftJob>(DRIFT_QUEUE, run.config.redisUrl, {
      prefix: run.queuePrefix,
    });
    try {
      const job: EvaluateDriftJob = { modelId, window: SHIFTED_WINDOW };
      await driftQueue.add(job, { jobId: driftJobId(job), removeOnComplete: true });

      const metric = await waitFor('output-drift-ks without drift under the stricter threshold', async () => {
        const found = await metricFor(SHIFTED_WINDOW, 'output-drift-ks');
        return found?.threshold === 1e-30 ? found : undefined;
      });
      assert.equal(metric.detected, false);
      assert.equal(metric.status, 'no-drift');

      // The job stores the metric before it retires the Flags, so the Flag may still be active here.
      const flags = await waitFor('the model-drift Flag retired', async () => {
        const found = await driftFlags(id);
        return found.every((flag) => flag.status === 'inactive') ? found : undefined;
      });
      assert.equal(flags.length, 1);
      assert.equal(flags[0]?.status, 'inactive');
      assert.ok(flags[0].period?.end !== undefined);
      const extension = await driftExtensionOf(id);
      assert.equal(extension?.get('detected'), false);
    } finally {
      await driftQueue.close();
    }
  });

  void it('stable window is not drift', async () => {
    const metric = await waitForSettledDrift(STABLE_WINDOW);
    assert.equal(metric.status, 'no-drift');
    assert.equal(metric.detected, false);
    assert.ok((metric.value ?? 0) >= 0.01, `p-value ${String(metric.value)} should be at least 0.01`);

    const id = observationsByWindow.get(STABLE_WINDOW)?.[0] ?? '';
    const extension = await waitFor(`DRIFT_EXTENSION on Observation/${id}`, () => driftExtensionOf(id));
    assert.equal(extension.get('detected'), false);
    assert.equal(await countDriftFlags(id), 0);
  });
});
