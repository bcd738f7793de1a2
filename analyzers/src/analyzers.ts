/**
 * Starts the two analyzer workers: uncertainty on ANALYZE_QUEUE and output drift on DRIFT_QUEUE.
 */
import {
  ANALYZE_QUEUE,
  connectMongo,
  createFhirClient,
  createLogger,
  DRIFT_QUEUE,
  loadConfig,
  type AnalyzeResultJob,
  type EvaluateDriftJob,
  type Logger,
  type MonitorMedConfig,
} from '@monitormed/common';
import Bull from 'bull';
import { loadAnalyzerSettings, type AnalyzerSettings } from './settings.js';
import { ResultsStore } from './store/results-store.js';
import { SurrogateStore } from './surrogate/store.js';
import { SurrogateUncertainty } from './uncertainty/surrogate-uncertainty.js';
import { processAnalyzeJob } from './workers/analyze-result.js';
import type { WorkerContext } from './workers/context.js';
import { processDriftJob, rescheduleIfChanged, type DriftOutcome } from './workers/evaluate-drift.js';

/** Options of {@link startAnalyzers}; every field has a default from the environment. */
export interface AnalyzersOptions {
  /** Service configuration; defaults to `loadConfig()`. Tests set `mongoDatabase` to a database of their own. */
  config?: MonitorMedConfig;
  /** Analyzer settings; fields given here override `loadAnalyzerSettings()`. */
  settings?: Partial<AnalyzerSettings>;
  /** Bull key prefix in Redis; defaults to `bull`. Must match fhir-server-ext's prefix. */
  queuePrefix?: string;
  /** Time limit for connecting to Redis and Mongo at start; defaults to 10 000 ms. */
  connectTimeoutMs?: number;
  logger?: Logger;
}

/** Running analyzers. */
export interface Analyzers {
  /** Stops taking jobs, waits for running jobs to finish, and closes the queues and Mongo; safe to repeat. */
  close(): Promise<void>;
}

/**
 * Connects to Mongo and Redis, creates the indexes and starts both workers.
 * @param options - Overrides of the configured defaults.
 * @returns A handle to stop them.
 * @throws Error with the peer's address when Mongo or Redis cannot be reached in time.
 */
export async function startAnalyzers(options: AnalyzersOptions = {}): Promise<Analyzers> {
  const config = options.config ?? loadConfig();
  const settings = { ...loadAnalyzerSettings(), ...options.settings };
  const log = options.logger ?? createLogger('analyzers', config.logLevel);
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const prefix = options.queuePrefix ?? 'bull';

  const mongo = await connectMongo(config, connectTimeoutMs).catch((err: unknown) => {
    throw new Error(`Cannot connect to MongoDB at ${config.mongoUrl}; start it or set MONGO_URL.`, {
      cause: err,
    });
  });
  const analyzeQueue = new Bull<AnalyzeResultJob>(ANALYZE_QUEUE, config.redisUrl, { prefix });
  const driftQueue = new Bull<EvaluateDriftJob>(DRIFT_QUEUE, config.redisUrl, { prefix });

  const fhir = createFhirClient(config);
  const surrogates = new SurrogateStore(mongo.db);
  const uncertainty = new SurrogateUncertainty(fhir, surrogates, log, { samples: settings.mcDropoutSamples });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= closeAll(log, [
      ['analyze queue', () => analyzeQueue.close()],
      ['drift queue', () => driftQueue.close()],
      ['surrogate sessions', () => uncertainty.close()],
      ['MongoDB', () => mongo.client.close()],
    ]);
    return closing;
  };

  try {
    await waitReady(analyzeQueue, connectTimeoutMs, config.redisUrl);
    await waitReady(driftQueue, connectTimeoutMs, config.redisUrl);

    const store = new ResultsStore(mongo.db);
    await store.ensureIndexes();
    await surrogates.ensureIndexes();

    const context: WorkerContext = { fhir, store, driftQueue, settings, log, uncertainty };
    void analyzeQueue.process(settings.analyzeConcurrency, (job) => processAnalyzeJob(context, job));
    void driftQueue.process(settings.driftConcurrency, (job) => processDriftJob(context, job));
    driftQueue.on('completed', (job: Bull.Job<EvaluateDriftJob>, outcomes: DriftOutcome[]) => {
      rescheduleIfChanged(context, job.data, outcomes).catch((err: unknown) => {
        log.error({ jobId: job.id, err }, 'Rescheduling a drift evaluation failed');
      });
    });

    const queues: [string, Bull.Queue][] = [
      ['analyze', analyzeQueue],
      ['drift', driftQueue],
    ];
    for (const [name, queue] of queues) {
      queue.on('failed', (job: Bull.Job, err: Error) => {
        log.error({ queue: name, jobId: job.id, attempt: job.attemptsMade, err }, 'Analyzer job failed');
      });
      queue.on('error', (err: Error) => {
        log.error({ queue: name, err }, 'Analyzer queue error');
      });
    }

    log.info({ database: config.mongoDatabase, ...settings }, 'Analyzers started');
    return { close };
  } catch (err) {
    await close().catch((closeError: unknown) => {
      log.error({ err: closeError }, 'Cleanup after a failed start failed');
    });
    throw err;
  }
}

async function waitReady(queue: Bull.Queue, timeoutMs: number, redisUrl: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(
        new Error(`Redis at ${redisUrl} did not respond within ${timeoutMs} ms; start it or set REDIS_URL.`)
      );
    }, timeoutMs);
  });
  try {
    // isReady() alone resolves before Redis responds, so a PING checks the connection.
    await Promise.race([queue.isReady().then(() => queue.client.ping()), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every cleanup step even when one fails, then reports all failures together. */
async function closeAll(log: Logger, steps: [string, () => Promise<unknown>][]): Promise<void> {
  const failures: unknown[] = [];
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (err) {
      log.error({ step: name, err }, 'Analyzer cleanup step failed');
      failures.push(err);
    }
  }
  if (failures.length > 0) {
    throw new AggregateError(failures, `Analyzers stopped with ${failures.length} failed cleanup step(s).`);
  }
  log.info('Analyzers stopped');
}
