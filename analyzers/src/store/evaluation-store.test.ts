/**
 * Evaluation store on the real FerretDB: rollups of seeded results into day, week and month sketches and
 * metrics, reference profiles from windows and from a CSV upload, the evaluation query and retention.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { COLLECTIONS, connectMongo, createLogger, type MongoHandle } from '@monitormed/common';
import { binaryEntropyBits } from '../stats/entropy.js';
import { sketchNumbers, type NumericSketch } from '../sketches/numeric-sketch.js';
import { createTestRun, dropTestDatabase } from '../testing/stack.js';
import { rollupWindow, type RollupContext } from '../workers/rollup-window.js';
import type { AiResultDocument } from './documents.js';
import { OUTPUT_FEATURES } from './evaluation-documents.js';
import { queryEvaluation } from './evaluation-query.js';
import { EvaluationStore, UNIT_LAYOUT } from './evaluation-store.js';
import {
  buildReferenceFromWindows,
  ReferenceDataError,
  uploadReferenceProfile,
} from './reference-profile.js';
import { ResultsStore } from './results-store.js';

const run = createTestRun();
const MODEL = `eval-model-${run.runId}`;
const VERSION = '1.0.0';
// Monday 2026-03-02 to Sunday 2026-03-08 is one pandas week; 2026-03-09 starts the next.
const DAYS = ['2026-03-02', '2026-03-03', '2026-03-04', '2026-03-09'];
const csvPath = fileURLToPath(
  new URL('../../test-fixtures/reference/sepsis-validation.csv', import.meta.url)
);

let mongo: MongoHandle | undefined;
let context: RollupContext | undefined;
const scoresByDay = new Map<string, number[]>();

function db(): import('mongodb').Db {
  assert.ok(mongo, 'Mongo is connected');
  return mongo.db;
}

function evaluation(): EvaluationStore {
  assert.ok(context, 'stores are created');
  return context.evaluation;
}

/** Results of one day: scores spread over (0, 1), heart rate rising with the day, sex alternating, every 5th lactate missing. */
function resultsOf(day: string, dayIndex: number): AiResultDocument[] {
  return Array.from({ length: 8 + dayIndex }, (_, index) => {
    const score = (index + 1) / (10 + dayIndex);
    return {
      observationId: `${run.runId}-${day}-${String(index)}`,
      observationVersionId: '1',
      status: 'analyzed',
      modelId: MODEL,
      modelVersion: VERSION,
      window: day,
      score,
      entropy: binaryEntropyBits(score),
      effective: new Date(`${day}T${String(10 + index).padStart(2, '0')}:00:00Z`),
      features: {
        heart_rate: 70 + index * 3 + dayIndex * 5,
        lactate: index % 5 === 0 ? null : 1 + index / 10,
        sex: index % 2 === 0 ? 'female' : 'male',
      },
      analyzedAt: new Date(),
      analyzerVersion: 'test',
    };
  });
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
  const results = new ResultsStore(mongo.db);
  await results.ensureIndexes();
  const store = new EvaluationStore(mongo.db);
  await store.ensureIndexes();
  context = {
    results,
    evaluation: store,
    log: createLogger('evaluation-store-test', 'warn'),
    subgroupFeatures: ['sex'],
  };

  for (const [dayIndex, day] of DAYS.entries()) {
    const documents = resultsOf(day, dayIndex);
    scoresByDay.set(
      day,
      documents.map((document) => document.score ?? Number.NaN)
    );
    await mongo.db.collection<AiResultDocument>(COLLECTIONS.aiResults).insertMany(documents);
  }
});

after(async () => {
  await mongo?.client.close();
  await dropTestDatabase(run.config);
});

void describe('evaluation store', () => {
  void it('rolls up days into weeks and months', async () => {
    assert.ok(context);
    for (const day of DAYS) {
      const outcomes = await rollupWindow(context, { modelId: MODEL, window: day });
      assert.equal(outcomes.length, 1);
      assert.equal(outcomes[0]?.features, 3);
    }
    // A second rollup of the same day rewrites the same documents instead of adding to them.
    await rollupWindow(context, { modelId: MODEL, window: DAYS[0] ?? '' });

    const [week] = await evaluation().findSketches({
      modelId: MODEL,
      modelVersion: VERSION,
      granularity: 'week',
      feature: OUTPUT_FEATURES.score,
      windows: ['2026-03-02/2026-03-08'],
    });
    assert.ok(week, 'the week sketch exists');
    const firstWeekScores = DAYS.slice(0, 3).flatMap((day) => scoresByDay.get(day) ?? []);
    const expected = sketchNumbers(firstWeekScores, UNIT_LAYOUT);
    const actual = week.sketch as NumericSketch;
    assert.deepEqual(actual.values, expected.values);
    assert.deepEqual(actual.histogram, expected.histogram);
    assert.equal(actual.count, expected.count);

    const rows = await queryEvaluation(db(), {
      modelIds: [MODEL],
      metrics: ['result-count'],
      subgroups: ['all'],
      granularity: 'week',
    });
    assert.deepEqual(
      rows.map((row) => [row.window, row.value]),
      [
        ['2026-03-02/2026-03-08', 8 + 9 + 10],
        ['2026-03-09/2026-03-15', 11],
      ]
    );
    const month = await queryEvaluation(db(), {
      modelIds: [MODEL],
      metrics: ['result-count'],
      subgroups: ['all'],
      granularity: 'month',
    });
    assert.deepEqual(
      month.map((row) => [row.window, row.value]),
      [['2026-03', 38]]
    );
  });

  void it('queries models, metrics and windows', async () => {
    const rows = await queryEvaluation(db(), {
      modelIds: [MODEL],
      metrics: ['feature-missing-rate:lactate', 'feature-mean:heart_rate'],
      subgroups: ['all'],
      from: new Date('2026-03-03T00:00:00Z'),
      to: new Date('2026-03-05T00:00:00Z'),
    });
    assert.deepEqual(
      rows.map((row) => [row.metric, row.window]),
      [
        ['feature-mean:heart_rate', '2026-03-03'],
        ['feature-mean:heart_rate', '2026-03-04'],
        ['feature-missing-rate:lactate', '2026-03-03'],
        ['feature-missing-rate:lactate', '2026-03-04'],
      ]
    );
    // 2026-03-03 has 9 results; indices 0 and 5 lack lactate. Heart rates 75 + 3i for i = 0..8 average 87.
    const [heartRate, , lactate] = rows;
    assert.ok(heartRate, 'the heart rate metric has a row');
    assert.ok(lactate, 'the lactate metric has a row');
    assert.equal(lactate.value, 2 / 9);
    assert.equal(heartRate.value, 87);
    assert.equal(heartRate.granularity, 'day');
    assert.equal(heartRate.windowStart?.toISOString(), '2026-03-03T00:00:00.000Z');
  });

  void it('rolls up subgroups of a feature', async () => {
    const rows = await queryEvaluation(db(), {
      modelIds: [MODEL],
      metrics: ['result-count'],
      subgroups: ['all', 'sex=female', 'sex=male'],
      windows: ['2026-03-03'],
    });
    // 2026-03-03 has 9 results; even indices (0, 2, 4, 6, 8) are female.
    assert.deepEqual(
      rows.map((row) => [row.subgroup, row.value]),
      [
        ['all', 9],
        ['sex=female', 5],
        ['sex=male', 4],
      ]
    );
    const weeks = await queryEvaluation(db(), {
      modelIds: [MODEL],
      metrics: ['result-count'],
      subgroups: ['sex=male'],
      granularity: 'week',
    });
    assert.deepEqual(
      weeks.map((row) => row.value),
      [4 + 4 + 5, 5]
    );
  });

  void it('builds a reference from windows', async () => {
    const profile = await buildReferenceFromWindows(evaluation(), {
      modelId: MODEL,
      modelVersion: VERSION,
      period: { firstWindows: 2 },
    });
    assert.deepEqual(profile.source, { kind: 'windows', windows: DAYS.slice(0, 2) });
    assert.equal(profile.rows, 17);
    assert.deepEqual(profile.chunkKeys, DAYS.slice(0, 2));

    const rows = await queryEvaluation(db(), {
      modelIds: [MODEL],
      metrics: ['result-count'],
      subgroups: ['all'],
      windows: ['2026-03-04'],
      includeReference: true,
    });
    assert.deepEqual(
      rows.map((row) => [row.granularity, row.window, row.value]),
      [
        ['reference', 'reference', 17],
        ['day', '2026-03-04', 10],
      ]
    );
    assert.equal(rows[0]?.windowStart, null);
  });

  void it('uploads a CSV reference profile', async () => {
    const profile = await uploadReferenceProfile(evaluation(), {
      modelId: MODEL,
      modelVersion: '2.0.0',
      path: csvPath,
    });
    assert.equal(profile.rows, 12);
    assert.deepEqual(profile.features, [
      { name: OUTPUT_FEATURES.score, kind: 'numeric' },
      { name: 'heart_rate', kind: 'numeric' },
      { name: 'lactate', kind: 'numeric' },
      { name: 'sex', kind: 'categorical' },
    ]);
    assert.equal(profile.chunkKeys.length, 12, 'twelve rows give twelve one-row chunks');

    const rows = await queryEvaluation(db(), {
      modelIds: [MODEL],
      modelVersions: ['2.0.0'],
      metrics: ['feature-missing-rate:lactate'],
      includeReference: true,
    });
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.value, 1 / 12);
  });

  void it('rejects an invalid CSV', async () => {
    await assert.rejects(
      uploadReferenceProfile(evaluation(), {
        modelId: MODEL,
        modelVersion: '3.0.0',
        path: `${csvPath}.missing`,
      }),
      ReferenceDataError
    );
  });

  void it('keeps a dashboard summary', async () => {
    const summaries = await evaluation().summariesOf([MODEL]);
    const summary = summaries.find((document) => document.modelVersion === VERSION);
    assert.ok(summary, 'the summary exists');
    assert.equal(summary.latestWindow, '2026-03-09');
    assert.equal(summary.latestWindowCount, 11);
    assert.equal(summary.windows, 4);
    assert.equal(summary.hasReferenceProfile, true);
  });

  void it('retention deletes old windows only', async () => {
    const now = new Date('2026-03-20T00:00:00Z');
    const deleted = await evaluation().deleteExpired(now, { hour: 1, day: 14, week: 1000, month: 1000 });
    assert.ok((deleted['day'] ?? 0) > 0, 'old day windows are deleted');

    const days = await queryEvaluation(db(), {
      modelIds: [MODEL],
      metrics: ['result-count'],
      subgroups: ['all'],
    });
    assert.deepEqual(
      days.map((row) => row.window),
      ['2026-03-09']
    );
    const weeks = await queryEvaluation(db(), {
      modelIds: [MODEL],
      modelVersions: [VERSION],
      metrics: ['result-count'],
      subgroups: ['all'],
      granularity: 'week',
      includeReference: true,
    });
    assert.equal(weeks.length, 3, 'the reference and both weeks remain');
  });
});
