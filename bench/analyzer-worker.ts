/**
 * Analyzer worker process of the throughput benchmark: the real startAnalyzers() with the bench model's
 * inputs registered, plus timers around FHIR calls, MongoDB calls, MC dropout and job processing. Each
 * timed call is counted under the queue whose job made it (AsyncLocalStorage), so the benchmark can split
 * the time of an analysis from the drift, rollup and alert jobs that run beside it.
 *
 * Environment: the analyzers' variables (FHIR_BASE_URL, MONGO_URL, MONGO_DATABASE, REDIS_URL,
 * ANALYZE_CONCURRENCY...), QUEUE_PREFIX and BENCH_MODEL_ID. Prints `ready` once it processes, and on SIGTERM
 * prints one line `timings {...}` with {@link WorkerTimings} and exits.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ANALYZE_QUEUE, createLogger, loadConfig } from '@monitormed/common';
import { Client } from 'fhir-kit-client';
import { Collection, FindCursor } from 'mongodb';
import { startAnalyzers } from '../analyzers/src/analyzers.js';
import { JobQueues, type JobProcessor } from '../analyzers/src/jobs/job-queues.js';
import type { QueueName } from '../analyzers/src/jobs/definitions.js';
import { featureSpecFor, registerFeatureSpec } from '../analyzers/src/surrogate/features.js';
import { McDropoutScorer } from '../analyzers/src/uncertainty/mc-dropout.js';

/** Kinds of timed calls. */
export type StepName = 'fhirRead' | 'fhirWrite' | 'mongoRead' | 'mongoWrite' | 'mcDropout';

/** Calls and their summed wall-clock time, in milliseconds. */
export interface StepTotal {
  count: number;
  totalMs: number;
}

/** Timings that a worker prints at exit: per queue, the timed steps, job durations and job outcomes. */
export interface WorkerTimings {
  steps: Record<string, Partial<Record<StepName, StepTotal>>>;
  /** Wall-clock time of every job from the processor's start to its end, per queue, in milliseconds. */
  jobMs: Record<string, number[]>;
  /** Jobs per queue and `outcome` field of their return value (or `failed`). */
  outcomes: Record<string, Record<string, number>>;
  /** Time (ms since the epoch) at which each analysis job's processor returned, by job id. */
  analysisDoneAtMs: Record<string, number>;
  /**
   * Calls per queue and label: `{method} {resourceType}` for FHIR, such as `search Observation`, and
   * `{method} {collection}` for MongoDB, such as `updateOne ai_results`.
   */
  calls: Record<string, Record<string, StepTotal>>;
}

const timings: WorkerTimings = emptyTimings();

function emptyTimings(): WorkerTimings {
  return { steps: {}, jobMs: {}, outcomes: {}, analysisDoneAtMs: {}, calls: {} };
}
const jobQueue = new AsyncLocalStorage<QueueName>();

function addTo(total: StepTotal, elapsedMs: number): void {
  total.count += 1;
  total.totalMs += elapsedMs;
}

function record(step: StepName, elapsedMs: number, label: string): void {
  const queue = jobQueue.getStore() ?? 'outside-jobs';
  const steps = (timings.steps[queue] ??= {});
  addTo((steps[step] ??= { count: 0, totalMs: 0 }), elapsedMs);
  const calls = (timings.calls[queue] ??= {});
  addTo((calls[label] ??= { count: 0, totalMs: 0 }), elapsedMs);
}

/**
 * Labels a call by method and target: the resource type of a fhir-kit-client call's first argument, or
 * the collection of a MongoDB collection or cursor.
 */
function labelOf(method: string, target: unknown, args: readonly unknown[]): string {
  if (target instanceof Collection) {
    return `${method} ${target.collectionName}`;
  }
  if (target instanceof FindCursor) {
    return `${method} ${target.namespace.collection ?? 'unknown'}`;
  }
  if (target instanceof McDropoutScorer) {
    return `${method} McDropoutScorer`;
  }
  const first = args[0] as { resourceType?: unknown } | undefined;
  return `${method} ${typeof first?.resourceType === 'string' ? first.resourceType : 'Bundle'}`;
}

type AnyMethod = (this: unknown, ...args: unknown[]) => unknown;

/**
 * Wraps a prototype method so that each call, and the promise it returns, is timed under `step` and under
 * the call's label (see {@link labelOf}).
 */
function timeMethod(prototype: object, name: string, step: StepName): void {
  const methods = prototype as Record<string, AnyMethod | undefined>;
  const original = methods[name];
  if (original === undefined) {
    throw new Error(
      `Cannot time ${name}: the prototype has no such method; update bench/analyzer-worker.ts.`
    );
  }
  methods[name] = function timed(this: unknown, ...args: unknown[]): unknown {
    const start = performance.now();
    const label = labelOf(name, this, args);
    const result = original.apply(this, args);
    if (result instanceof Promise) {
      return result.finally(() => {
        record(step, performance.now() - start, label);
      });
    }
    record(step, performance.now() - start, label);
    return result;
  };
}

for (const name of ['read', 'vread', 'search', 'nextPage']) {
  timeMethod(Client.prototype, name, 'fhirRead');
}
for (const name of ['create', 'update', 'transaction']) {
  timeMethod(Client.prototype, name, 'fhirWrite');
}
// findOne reads through a cursor's next(), not toArray(), so no read is counted twice.
for (const name of ['findOne', 'countDocuments', 'distinct']) {
  timeMethod(Collection.prototype, name, 'mongoRead');
}
timeMethod(FindCursor.prototype, 'toArray', 'mongoRead');
for (const name of [
  'insertOne',
  'insertMany',
  'updateOne',
  'updateMany',
  'replaceOne',
  'deleteOne',
  'deleteMany',
  'findOneAndUpdate',
  'bulkWrite',
]) {
  timeMethod(Collection.prototype, name, 'mongoWrite');
}
timeMethod(McDropoutScorer.prototype, 'estimate', 'mcDropout');

// Run every processor inside the queue's AsyncLocalStorage context, and time it.
const originalProcess = Reflect.get(JobQueues.prototype, 'process') as (
  this: JobQueues,
  name: QueueName,
  processor: JobProcessor<QueueName>
) => void;
function processTimed(this: JobQueues, name: QueueName, processor: JobProcessor<QueueName>): void {
  originalProcess.call(this, name, (job) =>
    jobQueue.run(name, async () => {
      const start = performance.now();
      const outcomes = (timings.outcomes[name] ??= {});
      try {
        const result = await processor(job);
        const outcome = (result as { outcome?: unknown } | undefined)?.outcome;
        const key = typeof outcome === 'string' ? outcome : 'done';
        outcomes[key] = (outcomes[key] ?? 0) + 1;
        if (name === ANALYZE_QUEUE) {
          timings.analysisDoneAtMs[String(job.id)] = Date.now();
        }
        return result;
      } catch (err) {
        outcomes['failed'] = (outcomes['failed'] ?? 0) + 1;
        throw err;
      } finally {
        (timings.jobMs[name] ??= []).push(performance.now() - start);
      }
    })
  );
}
Reflect.set(JobQueues.prototype, 'process', processTimed);

const modelId = process.env['BENCH_MODEL_ID'];
const sepsis = featureSpecFor('sepsis-risk');
if (modelId === undefined || sepsis === undefined) {
  throw new Error('Set BENCH_MODEL_ID to the bench model id; the sepsis-risk feature spec must exist.');
}
registerFeatureSpec({ ...sepsis, modelId });

const config = loadConfig();
const log = createLogger('bench-analyzer-worker', config.logLevel);
const analyzers = await startAnalyzers({
  config,
  logger: log,
  queuePrefix: process.env['QUEUE_PREFIX'] ?? 'bull',
});

process.once('SIGTERM', () => {
  analyzers.close().then(
    () => {
      process.stdout.write(`timings ${JSON.stringify(timings)}\n`, () => process.exit(0));
    },
    (err: unknown) => {
      log.error({ err }, 'Bench worker did not stop cleanly');
      process.stdout.write(`timings ${JSON.stringify(timings)}\n`, () => process.exit(1));
    }
  );
});
process.stdout.write('ready\n');
