/**
 * Measures what the listener keeps in memory per accepted message that waits for processing: heap
 * objects and bytes, from two V8 heap snapshots taken before and after a closed-loop run. Processing
 * fails fast (the FHIR server is a closed port, retries pushed out), so every accepted message stays
 * in the backlog, as it does during a burst. It is not the benchmark of record.
 * Usage: `npx tsx bench/listener-heap-probe.ts [--mode enhanced] [--run-ms 4000]`. MONGO_URL selects
 * the store. It uses its own database and temporary directory and removes both at the end.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { connectMongo, loadConfig, loadModelCatalog } from '@monitormed/common';
import { closedLoopbackPort } from '../hl7-listener/src/test-support/pipeline-harness.js';
import { startListenerProcess } from './bench-processes.js';
import { runClosedLoop } from './mllp-load.js';
import { oruSource, type BenchPatient } from './mllp-messages.js';

/** Totals of one heap snapshot. */
interface HeapTotals {
  objects: number;
  bytes: number;
}

/** Maximum wait for the listener to write a heap snapshot after the signal. */
const SNAPSHOT_TIMEOUT_MS = 60_000;

/** Interval between checks of the snapshot file's size, which stops growing once it is written. */
const SIZE_POLL_MS = 500;

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'enhanced' },
    'run-ms': { type: 'string', default: '4000' },
  },
});
const runMs = Number(args['run-ms']);
if (!['enhanced', 'immediate'].includes(args.mode) || !(runMs > 0)) {
  console.error('Invalid --mode or --run-ms: expected enhanced or immediate and a positive number of ms.');
  process.exit(2);
}

/** Sums the nodes of a snapshot, whose `nodes` array has `snapshot.meta.node_fields.length` numbers per node. */
function heapTotals(file: string): HeapTotals {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[] } };
    nodes: number[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const sizeField = fields.indexOf('self_size');
  let bytes = 0;
  for (let index = sizeField; index < snapshot.nodes.length; index += fields.length) {
    bytes += snapshot.nodes[index] ?? 0;
  }
  return { objects: snapshot.nodes.length / fields.length, bytes };
}

/** Asks the listener for its `count`th snapshot and returns the totals of the file it writes into `dir`. */
async function snapshotTotals(signal: () => void, dir: string, count: number): Promise<HeapTotals> {
  signal();
  const deadline = Date.now() + SNAPSHOT_TIMEOUT_MS;
  let lastSize = -1;
  while (Date.now() < deadline) {
    await delay(SIZE_POLL_MS);
    const files = readdirSync(dir)
      .filter((name) => name.endsWith('.heapsnapshot'))
      .sort();
    const file = files.length >= count ? files.at(-1) : undefined;
    if (file === undefined) {
      continue;
    }

    // The file appears before V8 has finished writing it, so it is read once its size stops changing.
    const size = statSync(join(dir, file)).size;
    if (size > 0 && size === lastSize) {
      return heapTotals(join(dir, file));
    }
    lastSize = size;
  }
  throw new Error(
    `Timed out after ${SNAPSHOT_TIMEOUT_MS} ms waiting for a heap snapshot in ${dir}: check free disk space there`
  );
}

const tag = `H${Date.now().toString(36).toUpperCase()}`;
const database = `monitormed_bench_${tag.toLowerCase()}`;
const snapshotDir = mkdtempSync(join(tmpdir(), 'monitormed-heap-'));

// The patients need not exist: processing fails before it looks for them.
const patients: BenchPatient[] = Array.from({ length: 20 }, (_unused, index) => ({
  mrn: `${tag}-${index}`,
  gender: index % 2 === 0 ? 'female' : 'male',
  birthDate: '1970-01-01',
}));
const source = oruSource(loadModelCatalog(), patients, tag, args.mode === 'enhanced');
const expected = new Set(['AA', 'CA']);
const config = loadConfig();
const listener = await startListenerProcess(
  {
    MONGO_DATABASE: database,
    FHIR_BASE_URL: `http://127.0.0.1:${await closedLoopbackPort()}/fhir`,
    HL7_CHANNELS: JSON.stringify([{ name: 'bench', ackMode: args.mode, duplicatePolicy: 'reject' }]),
    HL7_RETRY_BASE_MS: '600000',
    HL7_RETRY_MAX_DELAY_MS: '600000',
    LOG_LEVEL: 'fatal',
  },
  ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshotDir}`]
);
try {
  const signal = (): void => {
    listener.child.kill('SIGUSR2');
  };

  // A first run compiles the accept path, so the code it leaves behind is not counted per message.
  await runClosedLoop(listener.port, source, 10, 1_000, expected);
  await delay(1_000);
  const before = await snapshotTotals(signal, snapshotDir, 1);

  const run = await runClosedLoop(listener.port, source, 10, runMs, expected);
  await delay(1_000);
  const after = await snapshotTotals(signal, snapshotDir, 2);

  const messages = run.acknowledged;
  if (messages === 0) {
    throw new Error('The listener acknowledged no message: check that the store at MONGO_URL is running');
  }

  console.log(`Listener in ${args.mode} mode, ${messages} messages accepted and waiting for processing`);
  console.log(
    `Kept per message: ${((after.objects - before.objects) / messages).toFixed(1)} heap objects, ${((after.bytes - before.bytes) / messages / 1024).toFixed(2)} KB`
  );
} finally {
  await listener.stop();
  rmSync(snapshotDir, { recursive: true, force: true });
  const mongo = await connectMongo(config, 5_000);
  await mongo.client.db(database).dropDatabase();
  await mongo.client.close();
}
