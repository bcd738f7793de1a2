/**
 * Feature drift on the real FerretDB and Redis: seeded results with inputs, Evidently's automatic tests
 * against earlier windows and against an uploaded profile, and NannyML-style thresholds from reference chunks.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import {
  COLLECTIONS,
  connectMongo,
  createFhirClient,
  createLogger,
  DRIFT_QUEUE,
  type EvaluateDriftJob,
  type MongoHandle,
} from '@monitormed/common';
import Bull from 'bull';
import { loadAnalyzerSettings } from '../settings.js';
import { ksTwoSample } from '../stats/ks.js';
import { standardDeviationThreshold } from '../stats/standard-deviation-threshold.js';
import { binaryEntropyBits } from '../stats/entropy.js';
import type { AiResultDocument, MetricDocument } from '../store/documents.js';
import { EvaluationStore } from '../store/evaluation-store.js';
import { uploadReferenceProfile } from '../store/reference-profile.js';
import { ResultsStore } from '../store/results-store.js';
import { generateSample } from '../testing/seeded-samples.js';
import { createTestRun, dropTestDatabase } from '../testing/stack.js';
import type { WorkerContext } from './context.js';
import { evaluateFeatureDrift } from './feature-drift.js';

const run = createTestRun();
const MODEL = `feature-model-${run.runId}`;
const REFERENCE_WINDOWS = ['2026-04-01', '2026-04-02', '2026-04-03'];
const CURRENT = '2026-04-04';
const csvPath = fileURLToPath(
  new URL('../../test-fixtures/reference/sepsis-validation.csv', import.meta.url)
);

let mongo: MongoHandle | undefined;
let queue: Bull.Queue<EvaluateDriftJob> | undefined;
let context: WorkerContext | undefined;

/** 40 results per day; the current day's heart rates are 25 beats higher and one in four has sex 'unknown'. */
function resultsOf(version: string, window: string, seed: number): AiResultDocument[] {
  const shifted = window === CURRENT;
  const heartRates = generateSample({ seed, n: 40, shift: shifted ? 95 : 70, scale: 40, terms: 3 });
  const scores = generateSample({ seed: seed + 100, n: 40, shift: 0.1, scale: 0.4, terms: 2 });
  return heartRates.map((heartRate, index) => {
    const score = scores[index] ?? 0.5;
    let sex = index % 2 === 0 ? 'female' : 'male';
    if (shifted && index % 4 === 0) {
      sex = 'unknown';
    }
    return {
      observationId: `${run.runId}-${version}-${window}-${String(index)}`,
      observationVersionId: '1',
      status: 'analyzed',
      modelId: MODEL,
      modelVersion: version,
      window,
      score,
      entropy: binaryEntropyBits(score),
      effective: new Date(`${window}T${String(index % 24).padStart(2, '0')}:00:00Z`),
      features: { heart_rate: heartRate, lactate: index % 10 === 0 ? null : 1 + (index % 7) / 5, sex },
      analyzedAt: new Date(),
      analyzerVersion: 'test',
    };
  });
}

async function metric(version: string, name: string): Promise<MetricDocument> {
  assert.ok(mongo);
  const document = await mongo.db.collection<MetricDocument>(COLLECTIONS.metrics).findOne({
    modelId: MODEL,
    modelVersion: version,
    metric: name as MetricDocument['metric'],
    window: CURRENT,
  });
  assert.ok(document, `metric ${name} of version ${version} is stored`);
  return document;
}

before(async () => {
  try {
    mongo = await connectMongo(run.config, 5_000);
    await mongo.db.command({ ping: 1 });
  } catch (err) {
    throw new Error(
      `MongoDB at ${run.config.mongoUrl} is not reachable; start it with peers/peers.sh start ferretdb.`,
      { cause: err }
    );
  }
  queue = new Bull<EvaluateDriftJob>(DRIFT_QUEUE, run.config.redisUrl, { prefix: run.queuePrefix });
  const evaluation = new EvaluationStore(mongo.db);
  await evaluation.ensureIndexes();
  context = {
    fhir: createFhirClient(run.config),
    store: new ResultsStore(mongo.db),
    driftQueue: queue,
    settings: loadAnalyzerSettings({}),
    log: createLogger('feature-drift-test', 'warn'),
    evaluation,
  };

  const documents = ['1', '2'].flatMap((version) =>
    [...REFERENCE_WINDOWS, CURRENT].flatMap((window, index) => resultsOf(version, window, 10 + index))
  );
  await mongo.db.collection<AiResultDocument>(COLLECTIONS.aiResults).insertMany(documents);
});

after(async () => {
  delete process.env['DRIFT_THRESHOLD_MODE_BY_MODEL'];
  await queue?.close();
  await mongo?.client.close();
  await dropTestDatabase(run.config);
});

void describe('feature drift', () => {
  void it('tests features against reference windows', async () => {
    assert.ok(context);
    const outcome = await evaluateFeatureDrift(context, MODEL, '1', CURRENT, REFERENCE_WINDOWS);
    assert.deepEqual(outcome, {
      features: 4,
      driftedFeatures: 2,
      share: 0.5,
      drifted: true,
      thresholdMode: 'evidently',
    });

    const heartRate = await metric('1', 'feature-drift:heart_rate');
    assert.equal(heartRate.test, 'ks');
    assert.equal(heartRate.detected, true);
    assert.equal(heartRate.referenceN, 120);
    const sex = await metric('1', 'feature-drift:sex');
    assert.equal(sex.test, 'chisquare');
    assert.deepEqual(sex.unseenCategories, ['unknown']);
    assert.equal(sex.detected, true);
    const lactate = await metric('1', 'feature-drift:lactate');
    assert.equal(lactate.missingRateCurrent, 0.1);
    assert.equal(lactate.detected, false);
    const score = await metric('1', 'feature-drift:output:score');
    assert.equal(score.detected, false);
    const share = await metric('1', 'feature-drift-share');
    assert.equal(share.value, 0.5);
  });

  void it('applies NannyML thresholds per model', async () => {
    assert.ok(context, 'the worker context exists');
    process.env['DRIFT_THRESHOLD_MODE_BY_MODEL'] = `${MODEL}=nannyml`;
    const outcome = await evaluateFeatureDrift(context, MODEL, '1', CURRENT, REFERENCE_WINDOWS);
    assert.equal(outcome?.thresholdMode, 'nannyml');

    // Hand check of the rule: the KS statistic of each reference day against the pooled reference, mean ± 3 std.
    const rows = await context.store.featureRowsIn(MODEL, '1', REFERENCE_WINDOWS);
    const pooled = rows.map((row) => row.features['heart_rate'] as number);
    const chunkStatistics = REFERENCE_WINDOWS.map((window) => {
      const day = rows.filter((row) => row.observationId.includes(`-${window}-`));
      return ksTwoSample(
        pooled,
        day.map((row) => row.features['heart_rate'] as number)
      ).statistic;
    });
    const limits = standardDeviationThreshold(chunkStatistics, { lowerValueLimit: 0 });
    const heartRate = await metric('1', 'feature-drift:heart_rate');
    assert.equal(heartRate.thresholdMode, 'nannyml');
    assert.equal(heartRate.lowerThreshold, limits.lower);
    assert.equal(heartRate.upperThreshold, limits.upper);
    assert.equal(heartRate.detected, (heartRate.statistic ?? 0) > (limits.upper ?? Infinity));
    assert.equal(heartRate.detected, true);
    delete process.env['DRIFT_THRESHOLD_MODE_BY_MODEL'];
  });

  void it('tests against an uploaded profile', async () => {
    assert.ok(context?.evaluation);
    await uploadReferenceProfile(context.evaluation, { modelId: MODEL, modelVersion: '2', path: csvPath });
    const outcome = await evaluateFeatureDrift(context, MODEL, '2', CURRENT, REFERENCE_WINDOWS);
    assert.equal(outcome?.features, 4);

    const heartRate = await metric('2', 'feature-drift:heart_rate');
    assert.equal(heartRate.referenceN, 12, 'the reference is the CSV, not the earlier windows');
    assert.equal(heartRate.test, 'ks');
    const lactate = await metric('2', 'feature-drift:lactate');
    assert.equal(lactate.missingRateReference, 1 / 12);
  });
});
