/**
 * Measures what the listener's durable accept costs in MongoDB or FerretDB without the listener: insertOne
 * into a collection with the four indexes of `hl7_messages`, alone and while the processing worker's scan
 * query runs in a loop. Usage: `npx tsx bench/mongo-insert-probe.ts [--documents 2000] [--duration-ms 3000]`.
 * It uses its own database and drops it at the end.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { connectMongo, loadConfig } from '@monitormed/common';
import type { Collection, Document } from 'mongodb';
import { quantile } from './mllp-load.js';

const { values: args } = parseArgs({
  options: {
    documents: { type: 'string', default: '2000' },
    'duration-ms': { type: 'string', default: '3000' },
  },
});
const documentCount = Number(args.documents);
const durationMs = Number(args['duration-ms']);

const RAW = 'MSH|^~\\&|SEPSISAI|FAC|MONITORMED|FAC|20260101000000||ORU^R01|1|P|2.5.1\r'.padEnd(600, 'x');
let sequence = 0;

function newMessage(status: string): Document {
  sequence += 1;
  return {
    raw: RAW,
    rawBase64: Buffer.from(RAW).toString('base64'),
    dedupKey: `FAC|${sequence}|1`,
    sendingFacility: 'FAC',
    controlId: String(sequence),
    status,
    receivedAt: new Date(),
  };
}

/** Runs the query the processing worker uses to find unfinished messages. */
function scanUnfinished(collection: Collection): Promise<Document[]> {
  return collection
    .find({ status: { $in: ['received', 'processing'] } })
    .sort({ receivedAt: 1, _id: 1 })
    .limit(500)
    .toArray();
}

async function measureInserts(collection: Collection, connections: number, label: string): Promise<void> {
  const latenciesMs: number[] = [];
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() - startedAt < durationMs) {
        const sentAt = performance.now();
        await collection.insertOne(newMessage('received'));
        latenciesMs.push(performance.now() - sentAt);
      }
    })
  );
  const seconds = (performance.now() - startedAt) / 1000;
  latenciesMs.sort((a, b) => a - b);
  console.log(
    `| ${label} | ${connections} | ${(latenciesMs.length / seconds).toFixed(0)} | ${quantile(latenciesMs, 0.5).toFixed(1)} | ${quantile(latenciesMs, 0.99).toFixed(1)} |`
  );
}

const config = loadConfig();
const mongo = await connectMongo({
  ...config,
  mongoDatabase: `monitormed_probe_${randomBytes(4).toString('hex')}`,
});
try {
  const collection = mongo.db.collection('hl7_messages');
  await collection.createIndex({ dedupKey: 1 }, { unique: true }, undefined);
  await collection.createIndex({ sendingFacility: 1, controlId: 1 });
  await collection.createIndex({ status: 1, receivedAt: 1 });
  await collection.createIndex({ receivedAt: 1 });
  for (let inserted = 0; inserted < documentCount; inserted += 100) {
    await collection.insertMany(Array.from({ length: 100 }, () => newMessage('processed')));
  }

  console.log(`Store: ${config.mongoUrl}, ${documentCount} processed documents before the first insert`);
  console.log('| Run | Connections | Inserts/s | p50 ms | p99 ms |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  await measureInserts(collection, 1, 'insertOne alone');
  await measureInserts(collection, 10, 'insertOne alone');

  const scan = { running: true, count: 0, totalMs: 0 };
  const scanner = (async () => {
    while (scan.running) {
      const startedAt = performance.now();
      await scanUnfinished(collection);
      scan.totalMs += performance.now() - startedAt;
      scan.count += 1;
    }
  })();
  await measureInserts(collection, 1, 'insertOne while the worker scan runs in a loop');
  scan.running = false;
  await scanner;
  console.log(
    `\nWorker scan: ${scan.count} scans, ${(scan.totalMs / Math.max(1, scan.count)).toFixed(0)} ms each on average`
  );
} finally {
  await mongo.db.dropDatabase();
  await mongo.client.close();
}
