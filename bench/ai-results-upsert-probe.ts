/**
 * Measures the analysis job's MongoDB write without the workers: `replaceOne` with upsert, by
 * observationId, into a collection with the indexes of `ai_results` (as ResultsStore.upsertResult does),
 * from 1 and from 8 concurrent clients, each on new observation ids. insertOne and findOne on the same
 * collection give the scale of the store's other operations at the same time, and the same upsert and read
 * by `_id` show the cost of a lookup by the primary key.
 * Usage: `npx tsx bench/ai-results-upsert-probe.ts [--documents 300] [--duration-ms 5000]`.
 * It uses its own database and drops it at the end.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { connectMongo, loadConfig } from '@monitormed/common';
import type { Collection, Document } from 'mongodb';
import { quantile } from './mllp-load.js';

const { values: args } = parseArgs({
  options: {
    documents: { type: 'string', default: '300' },
    'duration-ms': { type: 'string', default: '5000' },
  },
});
const documentCount = Number(args.documents);
const durationMs = Number(args['duration-ms']);
for (const [name, value] of [
  ['--documents', documentCount],
  ['--duration-ms', durationMs],
] as const) {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`Invalid ${name} ${String(value)}: expected a whole number of at least 1.`);
  }
}

let sequence = 0;

/** Builds a document shaped like an analysed `ai_results` entry with MC dropout values. */
function resultDocument(): Document {
  sequence += 1;
  return {
    observationId: String(100_000 + sequence),
    observationVersionId: '1',
    status: 'analyzed',
    modelId: 'probe-model',
    modelVersion: '1.0.0',
    deviceId: '42',
    window: `2025-09-0${String(1 + (sequence % 5))}`,
    score: 0.3,
    entropy: 0.88,
    margin: 0.4,
    uncertaintyMethod: 'mc-dropout',
    mcMean: 0.31,
    mcStd: 0.05,
    mcPredictiveEntropy: 0.89,
    mcMutualInformation: 0.01,
    mcSamples: 30,
    surrogateVersion: 1,
    features: { heartRate: 90, respiratoryRate: 18, temperature: null, lactate: 1.4 },
    patientId: String(sequence % 30),
    effective: new Date(),
    analyzedAt: new Date(),
    analyzerVersion: 'probe',
  };
}

/** Operations compared: the job's upsert, and a plain insert and read of the same documents for scale. */
const OPERATIONS: Record<string, (collection: Collection, document: Document) => Promise<unknown>> = {
  'replaceOne upsert (the job)': (collection, document) =>
    collection.replaceOne({ observationId: document['observationId'] }, document, { upsert: true }),
  insertOne: (collection, document) => collection.insertOne(document),
  'findOne by observationId': (collection) =>
    collection.findOne({ observationId: String(100_000 + Math.ceil(Math.random() * documentCount)) }),
  // The same upsert and read keyed by _id, on a copy of the collection whose _id is the observation id.
  'replaceOne upsert by _id': (collection, document) =>
    byIdCollection(collection).replaceOne({ _id: String(document['observationId']) }, document, {
      upsert: true,
    }),
  'findOne by _id': (collection) =>
    byIdCollection(collection).findOne({ _id: String(100_000 + Math.ceil(Math.random() * documentCount)) }),
};

/** Returns the copy of the collection that is keyed by `_id` = observationId. */
function byIdCollection(collection: Collection): Collection<Document & { _id: string }> {
  return collection.db.collection<Document & { _id: string }>(`${collection.collectionName}_by_id`);
}

async function measure(collection: Collection, operation: string, writers: number): Promise<void> {
  const run = OPERATIONS[operation];
  if (run === undefined) {
    throw new Error(`Unknown operation ${operation}.`);
  }
  const latenciesMs: number[] = [];
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (performance.now() - startedAt < durationMs) {
        const document = resultDocument();
        const sentAt = performance.now();
        await run(collection, document);
        latenciesMs.push(performance.now() - sentAt);
      }
    })
  );
  const seconds = (performance.now() - startedAt) / 1000;
  latenciesMs.sort((a, b) => a - b);
  console.log(
    `| ${operation} | ${String(writers)} | ${(latenciesMs.length / seconds).toFixed(1)} | ${quantile(latenciesMs, 0.5).toFixed(1)} | ${quantile(latenciesMs, 0.99).toFixed(1)} |`
  );
}

const config = loadConfig();
const mongo = await connectMongo({
  ...config,
  mongoDatabase: `monitormed_probe_${randomBytes(4).toString('hex')}`,
});
try {
  const collection = mongo.db.collection('ai_results');
  await collection.createIndex({ observationId: 1 }, { unique: true, name: 'observation_unique' }, undefined);
  await collection.createIndex(
    { modelId: 1, modelVersion: 1, window: 1 },
    { name: 'model_window' },
    undefined
  );
  for (let inserted = 0; inserted < documentCount; inserted += 100) {
    const batch = Array.from({ length: Math.min(100, documentCount - inserted) }, resultDocument);
    await collection.insertMany(batch.map((document) => ({ ...document })));
    await byIdCollection(collection).insertMany(
      batch.map((document) => ({ ...document, _id: String(document['observationId']) }))
    );
  }

  console.log(
    `Store: ${config.mongoUrl}, ${String(documentCount)} documents in each collection before the first upsert`
  );
  console.log('| Operation | Clients | Operations/s | p50 ms | p99 ms |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const operation of Object.keys(OPERATIONS)) {
    await measure(collection, operation, 1);
    await measure(collection, operation, 8);
  }
} finally {
  await mongo.db.dropDatabase();
  await mongo.client.close();
}
