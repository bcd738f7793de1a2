/**
 * ResultsStore on the real FerretDB: AI results are keyed by the Observation id as `_id`, and a document
 * stored under an ObjectId by an older version is replaced in place instead of duplicated.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COLLECTIONS, connectMongo, type MongoHandle } from '@monitormed/common';
import { ObjectId, type Db } from 'mongodb';
import { createTestRun, dropTestDatabase } from '../testing/stack.js';
import { storeResultSubgroups } from '../subgroups/subgroups.js';
import type { AiResultDocument } from './documents.js';
import { ResultsStore } from './results-store.js';

const run = createTestRun();
let mongo: MongoHandle | undefined;

function db(): Db {
  assert.ok(mongo, 'MongoDB is connected');
  return mongo.db;
}

function result(observationId: string, score: number): AiResultDocument {
  return {
    observationId,
    observationVersionId: '1',
    status: 'analyzed',
    modelId: `store-model-${run.runId}`,
    modelVersion: '1.0.0',
    window: '2026-03-02',
    score,
    analyzedAt: new Date(),
    analyzerVersion: 'results-store-test',
  };
}

void describe('ResultsStore', () => {
  before(async () => {
    mongo = await connectMongo(run.config, 10_000);
    await new ResultsStore(db()).ensureIndexes();
  });

  after(async () => {
    await mongo?.client.close();
    await dropTestDatabase(run.config);
  });

  void it('keys results by Observation id', async () => {
    const store = new ResultsStore(db());
    await store.upsertResult(result('obs-1', 0.2));
    await store.upsertResult(result('obs-1', 0.7));

    const stored = await db()
      .collection<{ _id: string; score: number }>(COLLECTIONS.aiResults)
      .find({ observationId: 'obs-1' })
      .toArray();
    assert.equal(stored.length, 1);
    const [first] = stored;
    assert.ok(first);
    assert.equal(first._id, 'obs-1');
    assert.equal(first.score, 0.7);
  });

  void it('replaces a legacy ObjectId document', async () => {
    const legacyId = new ObjectId();
    await db()
      .collection(COLLECTIONS.aiResults)
      .insertOne({ _id: legacyId, ...result('obs-legacy', 0.1) });

    await new ResultsStore(db()).upsertResult(result('obs-legacy', 0.9));
    await storeResultSubgroups(db(), 'obs-legacy', { sex: 'female' });

    const stored = await db()
      .collection(COLLECTIONS.aiResults)
      .find({ observationId: 'obs-legacy' })
      .toArray();
    assert.equal(stored.length, 1);
    const [first] = stored;
    assert.ok(first);
    assert.ok(legacyId.equals(first._id));
    assert.equal(first['score'], 0.9);
    assert.deepEqual(first['subgroups'], { sex: 'female' });
  });

  void it('stores subgroups by _id', async () => {
    await new ResultsStore(db()).upsertResult(result('obs-2', 0.4));
    await storeResultSubgroups(db(), 'obs-2', { sex: 'male' });

    const stored = await db()
      .collection(COLLECTIONS.aiResults)
      .findOne({ _id: 'obs-2' as unknown as ObjectId });
    assert.deepEqual(stored?.subgroups, { sex: 'male' });
  });
});
