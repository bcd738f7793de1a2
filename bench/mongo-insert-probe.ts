/**
 * Measures what the listener's storage costs in MongoDB or FerretDB, without the listener:
 * - the insert cost per document of a queue entry and of an `hl7_messages` record, written in groups of
 *   50. The record is measured packed (as the listener stores it), stored whole (as before), and with the
 *   decoded text and four indexes of older versions;
 * - the cost of reading and updating one document by `_id` as a collection grows, for which FerretDB
 *   1.24 on SQLite scans the whole table.
 *
 * Usage: `npx tsx bench/mongo-insert-probe.ts [--sizes 1000,5000] [--groups 40]`. MONGO_URL selects the
 * server. It uses its own database and drops it at the end.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { connectMongo, loadConfig } from '@monitormed/common';
import { ObjectId, type Collection, type Document } from 'mongodb';
import type { MessageRecord } from '../hl7-listener/src/store/message-views.js';
import { packRecord } from '../hl7-listener/src/store/record-codec.js';
import { quantile } from './mllp-load.js';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,5000' },
    groups: { type: 'string', default: '40' },
  },
});
const sizes = args.sizes.split(',').map(Number);
const groupCount = Number(args.groups);
if (
  sizes.some((size) => !Number.isInteger(size) || size < 1) ||
  !Number.isInteger(groupCount) ||
  groupCount < 1
) {
  console.error(
    'Invalid --sizes or --groups: expected positive integers, such as --sizes 1000,5000 --groups 40.'
  );
  process.exit(2);
}

const GROUP_SIZE = 50;
// A 600-byte ORU^R01, about the size of the listener's test fixtures.
const RAW = 'MSH|^~\\&|SEPSISAI|FAC|MONITORMED|FAC|20260101000000||ORU^R01|1|P|2.5.1\r'.padEnd(600, 'x');
const HEADER = RAW.split('\r')[0]?.split('|') ?? [];
let sequence = 0;

/** Builds a record with bytes, metadata and the accept-time ACK, without decoded text. */
function record(): MessageRecord {
  sequence += 1;
  return {
    _id: new ObjectId(),
    rawBase64: Buffer.from(RAW).toString('base64'),
    sha256: 'a'.repeat(64),
    byteLength: RAW.length,
    receivedAt: new Date(),
    peer: { address: '127.0.0.1', port: 40000 },
    controlId: String(sequence),
    sendingApplication: 'SEPSISAI',
    sendingFacility: 'FAC',
    messageType: 'ORU^R01',
    header: HEADER,
    dedupKey: `FAC|${sequence}`,
    version: 1,
    patientKey: 'P1^^^FAC',
    channel: 'default',
    ackMode: 'immediate',
    ack: 'MSH|^~\\&|MONITORMED|FAC|SEPSISAI|FAC|20260101000000||ACK^R01^ACK|1|P|2.5.1\rMSA|AA|1\r',
    queueSegment: 'hl7_message_queue_20260101000000000_00000000',
  };
}

/** Builds the document the listener stores for a record: its queried fields and the rest packed. */
function packedRecord(): Document {
  return packRecord(record());
}

/** Builds a record with the decoded text as well, as stored before the queue segments. */
function recordWithText(): Document {
  return { ...record(), raw: RAW, status: 'received' };
}

/** Builds a queue entry, which carries only what scheduling needs. */
function queueEntry(): Document {
  return { _id: new ObjectId(), kind: 'queued', patientKey: 'P1^^^FAC', receivedAt: new Date() };
}

async function insertCost(
  collection: Collection,
  label: string,
  make: () => Document,
  indexes: Document[]
): Promise<void> {
  for (const key of indexes) {
    await collection.createIndex(key, { unique: key['dedupKey'] !== undefined }, undefined);
  }
  await collection.insertOne(make());
  const startedAt = performance.now();
  for (let group = 0; group < groupCount; group += 1) {
    await collection.insertMany(Array.from({ length: GROUP_SIZE }, make), { ordered: false });
  }
  const ms = performance.now() - startedAt;
  const documents = groupCount * GROUP_SIZE;
  console.log(
    `| ${label} | ${JSON.stringify(make()).length} | ${indexes.length} | ${(ms / documents).toFixed(3)} | ${(documents / (ms / 1000)).toFixed(0)} |`
  );
}

async function timed(count: number, operation: (index: number) => Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  for (let index = 0; index < count; index += 1) {
    const startedAt = performance.now();
    await operation(index);
    latencies.push(performance.now() - startedAt);
  }
  return latencies.sort((a, b) => a - b);
}

const config = loadConfig();
const mongo = await connectMongo({
  ...config,
  mongoDatabase: `monitormed_probe_${randomBytes(4).toString('hex')}`,
});
try {
  console.log(`Store: ${config.mongoUrl}`);
  console.log(`\nInsert cost, ${groupCount} insertMany calls of ${GROUP_SIZE} documents each:\n`);
  console.log('| Document | JSON bytes | Secondary indexes | ms per document | Documents/s |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  const db = mongo.db;
  await insertCost(db.collection('records_packed'), 'record, packed (now)', packedRecord, [{ dedupKey: 1 }]);
  await insertCost(db.collection('records_whole'), 'record, stored whole (before)', record, [
    { dedupKey: 1 },
  ]);
  await insertCost(db.collection('records_text'), 'record with decoded text (earlier)', recordWithText, [
    { dedupKey: 1 },
    { sendingFacility: 1, controlId: 1 },
    { status: 1, receivedAt: 1 },
    { receivedAt: 1 },
  ]);
  await insertCost(db.collection('queue_entries'), 'queue entry', queueEntry, []);

  console.log('\nOne document by `_id` as the collection grows (20 operations each):\n');
  console.log('| Documents | findOne p50 ms | updateOne p50 ms | updateOne p99 ms |');
  console.log('| ---: | ---: | ---: | ---: |');
  const grown = db.collection('grown');
  const ids: ObjectId[] = [];
  for (const size of sizes) {
    while (ids.length < size) {
      const group = Array.from({ length: Math.min(500, size - ids.length) }, record);
      ids.push(...group.map((document) => document['_id']));
      await grown.insertMany(group);
    }
    const pick = (index: number): ObjectId | undefined => ids[(index * 7919) % ids.length];
    const finds = await timed(20, (index) => grown.findOne({ _id: pick(index) }));
    const updates = await timed(20, (index) =>
      grown.updateOne({ _id: pick(index) }, { $set: { status: 'processed' } })
    );
    console.log(
      `| ${size} | ${quantile(finds, 0.5).toFixed(1)} | ${quantile(updates, 0.5).toFixed(1)} | ${quantile(updates, 0.99).toFixed(1)} |`
    );
  }
} finally {
  await mongo.db.dropDatabase();
  await mongo.client.close();
}
