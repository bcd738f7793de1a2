import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MongoHandle } from '@monitormed/common';
import type { Collection } from 'mongodb';
import { requireMongo } from '../test-support/peers.js';
import { DUPLICATE_KEY_ERROR, insertEach } from './bulk-insert.js';

interface KeyedDocument {
  _id: string;
  value: number;
}

void describe('insertEach', () => {
  let mongo: MongoHandle | undefined;
  let collection: Collection<KeyedDocument>;

  before(async () => {
    mongo = await requireMongo();
    collection = mongo.db.collection<KeyedDocument>('bulk_insert_test');
    await collection.insertOne({ _id: 'taken', value: 0 });
  });

  after(async () => {
    await mongo?.db.dropDatabase();
    await mongo?.client.close();
  });

  void it('inserts a single document', async () => {
    const failed = await insertEach(collection, [{ _id: 'single', value: 1 }]);

    assert.equal(failed.size, 0);
    assert.equal((await collection.findOne({ _id: 'single' }))?.value, 1);
  });

  void it('reports a single duplicate by index', async () => {
    const failed = await insertEach(collection, [{ _id: 'taken', value: 2 }]);

    assert.equal(failed.get(0)?.code, DUPLICATE_KEY_ERROR);
    assert.equal((await collection.findOne({ _id: 'taken' }))?.value, 0);
  });

  void it('reports a duplicate among several', async () => {
    const failed = await insertEach(collection, [
      { _id: 'first', value: 3 },
      { _id: 'taken', value: 4 },
      { _id: 'third', value: 5 },
    ]);

    assert.deepEqual([...failed.keys()], [1]);
    assert.equal(failed.get(1)?.code, DUPLICATE_KEY_ERROR);
    assert.equal(await collection.countDocuments({ _id: { $in: ['first', 'third'] } }), 2);
  });
});
