/**
 * End-to-end throughput of the analyzer workers: AI results analysed per second with 1 and 2 worker
 * processes. A result's time runs from the enqueue of its analysis job to the stored `ai_results` document
 * and the uncertainty extension written back to HAPI, which is the job's last step. For each worker count
 * the script loads fresh results into HAPI and queues all their analysis jobs at once. Then it analyses a
 * few more one at a time, for the latency of a result that does not wait behind others. The workers
 * (bench/analyzer-worker.ts) time their FHIR calls, MongoDB calls and MC dropout runs, which gives the
 * split of an analysis's time.
 *
 * Usage: npm run bench:analyzers [-- --results 300 --workers 1,2 --patients 30 --days 5 --sequential 20
 *   --warmup 40 --concurrency 4 --out bench/results/analyzer-throughput.md]
 * FHIR_BASE_URL selects the FHIR server. A private HAPI (peers.sh with HAPI_PORT and MONITORMED_PEERS_DIR)
 * keeps other analyzers' Subscriptions from analysing the bench's results first.
 * HAPI, FerretDB and Redis are the running peers. Each run uses its own MongoDB database and bull prefix,
 * removed at the end; the Patients and Observations stay in HAPI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import {
  ANALYZE_QUEUE,
  analyzeJobId,
  connectMongo,
  createFhirClient,
  loadConfig,
  type AnalyzeResultJob,
  type MonitorMedConfig,
} from '@monitormed/common';
import type { Bundle, Subscription } from '@medplum/fhirtypes';
import Bull from 'bull';
import { DEFAULT_JOB_OPTIONS, QUEUE_NAMES } from '../analyzers/src/jobs/definitions.js';
import type { WorkerTimings } from './analyzer-worker.js';
import { createBenchDevice, loadBenchResults, storeBenchSurrogate } from './analyzer-load.js';
import { REPO_ROOT } from './bench-processes.js';
import { renderReport, type RunReport } from './analyzer-report.js';

const { values: args } = parseArgs({
  options: {
    results: { type: 'string', default: '300' },
    workers: { type: 'string', default: '1,2' },
    patients: { type: 'string', default: '30' },
    days: { type: 'string', default: '5' },
    sequential: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '40' },
    concurrency: { type: 'string', default: '4' },
    out: { type: 'string', default: 'bench/results/analyzer-throughput.md' },
  },
});

function wholeNumber(name: string, raw: string, minimum: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < minimum) {
    console.error(`Invalid --${name} ${raw}: expected a whole number of at least ${String(minimum)}.`);
    process.exit(2);
  }
  return value;
}

const resultCount = wholeNumber('results', args.results, 1);
const patientCount = wholeNumber('patients', args.patients, 1);
const dayCount = wholeNumber('days', args.days, 1);
const sequentialCount = wholeNumber('sequential', args.sequential, 0);
const warmupCount = wholeNumber('warmup', args.warmup, 0);
const concurrency = wholeNumber('concurrency', args.concurrency, 1);
const workerCounts = args.workers.split(',').map((text) => wholeNumber('workers', text.trim(), 1));

/**
 * Lists the criteria of active Subscriptions that deliver every AI result, such as a demo's. Their analyzers
 * may analyse the bench's results before the bench workers do, and those jobs then end early.
 */
async function globalSubscriptions(fhirBaseUrl: string): Promise<string[]> {
  const response = await fetch(`${fhirBaseUrl}/Subscription?status=active&_count=200`, {
    headers: { accept: 'application/fhir+json', 'cache-control': 'no-cache' },
  });
  if (!response.ok) {
    throw new Error(`GET ${fhirBaseUrl}/Subscription failed with HTTP ${String(response.status)}.`);
  }
  const bundle = (await response.json()) as Bundle<Subscription>;
  return (bundle.entry ?? [])
    .map((entry) => entry.resource?.criteria ?? '')
    .filter((criteria) => criteria.startsWith('Observation?') && !criteria.includes('device='));
}

/** Time allowed for one burst to be analysed before the run is reported as incomplete. */
const BURST_TIMEOUT_MS = 20 * 60_000;

interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
}

/** Starts one bench worker and waits until it prints `ready`. */
async function startWorker(env: Record<string, string>): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/analyzer-worker.ts'], {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4096);
  });
  const deadline = Date.now() + 120_000;
  while (!stdout.includes('ready\n')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`A bench worker did not start within 120 s:\n${stderr}`);
    }
    await delay(100);
  }
  return { child, output: () => `${stdout}\n${stderr}` };
}

/** Stops a worker with SIGTERM and returns the timings it prints on exit. */
async function stopWorker(worker: WorkerProcess): Promise<WorkerTimings> {
  const exited = new Promise((resolve) => worker.child.once('exit', resolve));
  worker.child.kill('SIGTERM');
  await Promise.race([exited, delay(60_000)]);
  const line = worker
    .output()
    .split('\n')
    .find((text) => text.startsWith('timings '));
  if (line === undefined) {
    worker.child.kill('SIGKILL');
    throw new Error(`A bench worker printed no timings:\n${worker.output().slice(-4096)}`);
  }
  return JSON.parse(line.slice('timings '.length)) as WorkerTimings;
}

/** Waits until the queue has no waiting, active or delayed analysis job. */
async function waitUntilDrained(queue: Bull.Queue<AnalyzeResultJob>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const counts = await queue.getJobCounts();
    if (counts.waiting + counts.active + counts.delayed === 0) {
      return true;
    }
    await delay(50);
  }
  return false;
}

function jobOf(id: string): { data: AnalyzeResultJob; opts: Bull.JobOptions } {
  const data: AnalyzeResultJob = { resourceType: 'Observation', id, versionId: '1' };
  return { data, opts: { ...DEFAULT_JOB_OPTIONS, jobId: analyzeJobId(data) } };
}

/** Runs a burst of `burst` results and `sequential` results one at a time with `workers` processes on fresh data. */
async function runWorkers(
  config: MonitorMedConfig,
  tag: string,
  workers: number,
  burst: number,
  sequential: number
): Promise<RunReport> {
  const fhir = createFhirClient(config);
  const modelId = `bench-analyzer-${tag}-w${String(workers)}`;
  const database = `monitormed_bench_${tag}_w${String(workers)}`;
  const prefix = `monitormed-bench-${tag}-w${String(workers)}`;
  const runConfig = { ...config, mongoDatabase: database };

  const deviceId = await createBenchDevice(fhir, modelId);
  const loadStart = performance.now();
  const ids = await loadBenchResults(fhir, {
    deviceId,
    patients: patientCount,
    results: burst + sequential,
    days: dayCount,
    firstDay: '2025-09-01',
    seed: workers,
  });
  const loadSeconds = (performance.now() - loadStart) / 1000;
  const surrogateVersion = await storeBenchSurrogate(runConfig, modelId);
  console.error(
    `${String(workers)} worker(s): loaded ${String(ids.length)} results in ${loadSeconds.toFixed(1)} s`
  );

  const env = {
    MONGO_DATABASE: database,
    QUEUE_PREFIX: prefix,
    BENCH_MODEL_ID: modelId,
    ANALYZE_CONCURRENCY: String(concurrency),
  };
  const processes: WorkerProcess[] = [];
  const queue = new Bull<AnalyzeResultJob>(ANALYZE_QUEUE, config.redisUrl, { prefix });
  try {
    for (let index = 0; index < workers; index += 1) {
      processes.push(await startWorker(env));
    }

    // Burst: every job queued at once, so the workers run at their full rate.
    const burstIds = ids.slice(0, burst);
    const burstStartMs = Date.now();
    await queue.addBulk(burstIds.map(jobOf));
    const drained = await waitUntilDrained(queue, BURST_TIMEOUT_MS);
    const enqueuedAtMs = new Map(burstIds.map((id) => [analyzeJobId(jobOf(id).data), burstStartMs]));

    // One at a time: each job is queued after the previous one finished.
    const sequentialIds = ids.slice(burst);
    for (const id of sequentialIds) {
      const { data, opts } = jobOf(id);
      enqueuedAtMs.set(analyzeJobId(data), Date.now());
      await queue.add(data, opts);
      await waitUntilDrained(queue, 120_000);
    }

    const timings: WorkerTimings[] = [];
    for (const worker of processes.splice(0)) {
      timings.push(await stopWorker(worker));
    }
    return {
      workers,
      concurrency,
      results: burst,
      drained,
      burstStartMs,
      enqueuedAtMs,
      burstIds: new Set(burstIds.map((id) => analyzeJobId(jobOf(id).data))),
      timings,
      surrogateVersion,
      loadSeconds,
    };
  } finally {
    for (const worker of processes) {
      worker.child.kill('SIGKILL');
    }
    await queue.close();
    for (const name of QUEUE_NAMES) {
      const other = new Bull(name, config.redisUrl, { prefix });
      await other.obliterate({ force: true });
      await other.close();
    }
    const mongo = await connectMongo(config, 5_000);
    await mongo.client.db(database).dropDatabase();
    await mongo.client.close();
  }
}

const config = loadConfig();
const tag = Date.now().toString(36);
const startedAt = new Date();
const subscriptionsBefore = await globalSubscriptions(config.fhirBaseUrl);
if (subscriptionsBefore.length > 0) {
  console.error(
    `Warning: ${String(subscriptionsBefore.length)} active Subscription(s) on ${config.fhirBaseUrl} deliver every AI result (${subscriptionsBefore.join(', ')}); another analyzer may analyse the bench's results first. Use a private HAPI through FHIR_BASE_URL.`
  );
}
// Against a freshly started HAPI, the FHIR calls of a first run took about 3 times as long as those of the
// second (210 against 62 ms per read, 2026-12-05), so an unrecorded run comes first.
if (warmupCount > 0) {
  await runWorkers(config, `${tag}warmup`, 1, warmupCount, 0);
}
const loadBefore = loadavg();
const runs: RunReport[] = [];
for (const workers of workerCounts) {
  runs.push(await runWorkers(config, tag, workers, resultCount, sequentialCount));
}
const loadAfter = loadavg();
const subscriptionsAfter = await globalSubscriptions(config.fhirBaseUrl);

const report = renderReport(runs, {
  date: startedAt.toISOString(),
  machine: `${String(cpus().length)} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${String(Math.round(totalmem() / 2 ** 30))} GiB, Node ${process.version}`,
  command: `${process.env['FHIR_BASE_URL'] === undefined ? '' : `FHIR_BASE_URL=${config.fhirBaseUrl} `}npm run bench:analyzers -- --results ${String(resultCount)} --workers ${workerCounts.join(',')} --patients ${String(patientCount)} --days ${String(dayCount)} --sequential ${String(sequentialCount)} --warmup ${String(warmupCount)} --concurrency ${String(concurrency)}`,
  loadBefore,
  loadAfter,
  peers: `HAPI FHIR ${config.fhirBaseUrl}, FerretDB ${config.mongoUrl}, Redis ${config.redisUrl}`,
  globalSubscriptions: Math.max(subscriptionsBefore.length, subscriptionsAfter.length),
  warmupResults: warmupCount,
});
console.log(report);
writeFileSync(args.out, report);
console.error(`Wrote ${args.out}`);
