import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '@monitormed/common';
import { Binary, BSON, ObjectId } from 'mongodb';
import { useTestDatabase } from '../test-support/peers.js';
import { MessageStore } from './message-store.js';
import type { ReceivedMessage } from './message-types.js';
import type { MessageRecord } from './message-views.js';
import { packRecord, unpackRecord, type StoredRecord } from './record-codec.js';

// Latin-1 bytes (0xE9 is é), a NUL and bytes that are not valid UTF-8, as a message may carry them.
const RAW = Buffer.concat([
  Buffer.from('MSH|^~\\&|LAB|H\xe9pital|||20261205||ORU^R01|C1|P|2.5|||||8859/1\r', 'latin1'),
  Buffer.from([0x00, 0xff, 0xfe, 0x80]),
]);

/** Builds a message as it arrives, before the store gives it an id, a key and a version. */
function receivedOf(controlId: string): ReceivedMessage {
  return {
    rawBase64: RAW.toString('base64'),
    sha256: 'ab'.repeat(32),
    charset: '8859/1',
    batch: { id: 'frame-1', index: 1, size: 2 },
    byteLength: RAW.length,
    receivedAt: new Date('2026-12-05T12:00:00.123Z'),
    peer: { address: '127.0.0.1', port: 40_001 },
    controlId,
    sendingApplication: 'LAB',
    sendingFacility: 'Hôpital',
    messageType: 'ORU^R01',
    header: [
      '',
      'MSH',
      '|',
      '^~\\&',
      'LAB',
      'Hôpital',
      '',
      '',
      '20261205',
      '',
      'ORU^R01',
      controlId,
      'P',
      '2.5',
    ],
    patientKey: 'MRN-1^^^HOSP',
    channel: 'lab',
    ackMode: 'enhanced',
    acceptAckType: 'AL',
    applicationAckType: 'AL',
    acceptAck: `MSH|^~\\&|MONITORMED|FAC|LAB|Hôpital|20261205||ACK^R01^ACK|A1|P|2.5\rMSA|CA|${controlId}\r`,
  };
}

function recordOf(overrides: Partial<MessageRecord> = {}): MessageRecord {
  return {
    ...receivedOf('C1'),
    _id: new ObjectId(),
    dedupKey: 'Hôpital|C1',
    version: 1,
    queueSegment: 'hl7_message_queue_20261205120000000_0a1b2c3d',
    ...overrides,
  };
}

void describe('packRecord and unpackRecord', () => {
  void it('round-trips every field', () => {
    const record = recordOf();

    assert.deepEqual(unpackRecord(packRecord(record)), record);
  });

  void it('keeps the exact message bytes', () => {
    const unpacked = unpackRecord(packRecord(recordOf()));

    assert.deepEqual(Buffer.from(unpacked.rawBase64, 'base64'), RAW);
  });

  void it('keeps queried fields top-level', () => {
    const record = recordOf({ status: 'rejected', reason: 'MSH-9 is empty' });

    const stored = packRecord(record);

    assert.deepEqual(Object.keys(stored).sort(), [
      '_id',
      'controlId',
      'dedupKey',
      'packed',
      'sha256',
      'status',
    ]);
    assert.equal(stored.controlId, 'C1');
    assert.equal(stored.status, 'rejected');
    assert.deepEqual(unpackRecord(stored), record);
  });

  void it('leaves absent fields absent', () => {
    const record = recordOf();
    delete record.controlId;
    delete record.batch;
    delete record.charset;

    const stored = packRecord(record);
    const unpacked = unpackRecord(stored);

    assert.equal('controlId' in stored, false);
    assert.equal('status' in stored, false);
    assert.equal('controlId' in unpacked, false);
    assert.equal('batch' in unpacked, false);
    assert.equal('status' in unpacked, false);
  });

  void it('returns a record stored whole unchanged', () => {
    const record = recordOf();

    assert.equal(unpackRecord(record), record);
  });

  void it('rejects packed fields that are not a record', () => {
    const stored: StoredRecord = {
      _id: new ObjectId(),
      dedupKey: 'FAC|C2',
      sha256: 'cd'.repeat(32),
      packed: new Binary(BSON.serialize({ raw: 'not bytes' })),
    };

    assert.throws(() => unpackRecord(stored), {
      name: 'TypeError',
      message: new RegExp(`Invalid packed fields in hl7_messages document ${stored._id.toHexString()}`),
    });
  });
});

void describe('MessageStore records on MongoDB', () => {
  const mongo = useTestDatabase();

  const storeOf = async (): Promise<MessageStore> => {
    const store = new MessageStore(mongo().db, { logger: createLogger('hl7-listener-test', 'silent') });
    await store.ensureIndexes();
    return store;
  };

  void it('stores a received message packed', async () => {
    const store = await storeOf();
    const received = receivedOf('PACKED-1');

    const inserted = await store.insertReceived(received);
    assert.ok(inserted.kind === 'inserted', 'the message was not inserted');

    const document = await store.collection.findOne({ _id: inserted.queued._id });
    assert.ok(document, 'no document in hl7_messages');
    assert.deepEqual(Object.keys(document).sort(), ['_id', 'controlId', 'dedupKey', 'packed', 'sha256']);
    assert.equal(document.dedupKey, 'Hôpital|PACKED-1');

    const view = await store.findById(inserted.queued._id);
    assert.ok(view, 'the message was not found by id');
    assert.deepEqual(Buffer.from(view.rawBase64, 'base64'), RAW);
    assert.deepEqual(view.header, received.header);
    assert.equal(view.acceptAck, received.acceptAck);
    assert.equal(view.status, 'received');
  });

  void it('finds versions in version order', async () => {
    const store = await storeOf();
    const received = receivedOf('PACKED-2');

    await store.insertReceived(received);
    await store.insertCorrection({ ...received, sha256: 'ef'.repeat(32) });
    await store.insertCorrection({ ...received, sha256: '01'.repeat(32) });

    const versions = await store.findVersions('Hôpital', 'PACKED-2');
    assert.deepEqual(
      versions.map((stored) => [stored.version, stored.sha256]),
      [
        [1, 'ab'.repeat(32)],
        [2, 'ef'.repeat(32)],
        [3, '01'.repeat(32)],
      ]
    );
  });

  void it('reads a record stored whole', async () => {
    const store = await storeOf();
    const legacy = recordOf({ controlId: 'WHOLE-1', dedupKey: 'Hôpital|WHOLE-1' });
    await store.collection.db.collection<MessageRecord>(store.collection.collectionName).insertOne(legacy);

    const view = await store.findById(legacy._id);
    assert.ok(view, 'the record stored whole was not found');
    assert.deepEqual(Buffer.from(view.rawBase64, 'base64'), RAW);
    assert.equal(view.patientKey, legacy.patientKey);

    const [version] = await store.findVersions('Hôpital', 'WHOLE-1');
    assert.equal(version?._id.toHexString(), legacy._id.toHexString());
  });

  void it('loads queued work from packed records', async () => {
    const store = await storeOf();
    const received = receivedOf('PACKED-3');
    const inserted = await store.insertReceived(received);
    assert.ok(inserted.kind === 'inserted', 'the message was not inserted');

    const [loaded] = await store.loadQueued([inserted.queued]);

    assert.ok(loaded, 'the queued message was not loaded');
    assert.deepEqual(Buffer.from(loaded.rawBase64, 'base64'), RAW);
    assert.equal(loaded.controlId, 'PACKED-3');
    assert.equal(loaded.sendingFacility, 'Hôpital');
    assert.deepEqual(loaded.header, received.header);
  });
});
