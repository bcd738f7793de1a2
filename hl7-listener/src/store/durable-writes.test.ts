import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { COLLECTIONS, loadConfig } from '@monitormed/common';
import { MongoClient, type CommandStartedEvent, type Db } from 'mongodb';
import { emptyReceivedMessage } from '../test-support/received-message.js';
import { MessageStore, OUTCOMES_COLLECTION, QUEUE_SEGMENT_PREFIX } from './message-store.js';

/** Commands that write documents, each of which must carry the durable write concern. */
const WRITE_COMMANDS = new Set(['insert', 'update', 'delete']);

void describe('store write concern', () => {
  const config = loadConfig();
  // Command monitoring needs a client of its own, so the shared test helper is not used here.
  const client = new MongoClient(config.mongoUrl, {
    serverSelectionTimeoutMS: 5_000,
    retryWrites: false,
    monitorCommands: true,
  });
  const commands: CommandStartedEvent[] = [];
  let db: Db | undefined;

  before(async () => {
    await client.connect();
    db = client.db(`monitormed_test_${randomBytes(4).toString('hex')}`);
    client.on('commandStarted', (event) => commands.push(event));
  });

  after(async () => {
    await db?.dropDatabase();
    await client.close();
  });

  void it('journals every accept and processing write', async () => {
    assert.ok(db, 'MongoDB is not connected');
    const store = new MessageStore(db);
    await store.ensureIndexes();
    const controlId = randomBytes(4).toString('hex');

    const inserted = await store.insertReceived(
      emptyReceivedMessage(controlId, 'WRITE-CONCERN', `wc-${controlId}`)
    );
    assert.ok(inserted.kind === 'inserted', 'the test message was not inserted');
    const claimed = await store.claim(inserted.queued, 'worker-wc', 60_000);
    assert.ok(claimed, 'the claim failed');
    assert.ok(await store.complete(claimed, { status: 'processed', resourceIds: [] }));

    const writes = commands.filter((event) => WRITE_COMMANDS.has(event.commandName));
    const collections = new Set(writes.map((event) => String(event.command[event.commandName])));
    assert.ok(collections.has(COLLECTIONS.hl7Messages), 'no write to hl7_messages was seen');
    assert.ok(collections.has(OUTCOMES_COLLECTION), 'no write to the outcomes was seen');
    assert.ok(
      [...collections].some((name) => name.startsWith(QUEUE_SEGMENT_PREFIX)),
      `no write to a queue segment was seen: ${[...collections].join(', ')}`
    );
    for (const event of writes) {
      assert.deepEqual(
        event.command.writeConcern,
        { w: 'majority', j: true },
        `${event.commandName} on ${String(event.command[event.commandName])}`
      );
    }
  });
});
