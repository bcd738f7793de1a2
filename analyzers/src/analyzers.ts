/**
 * Starts the analyzer workers: uncertainty on ANALYZE_QUEUE, drift on DRIFT_QUEUE, window rollups, alert
 * evaluations (with the window's performance metrics), surrogate trainings and retention, with the queue
 * settings, dead-letter store and graceful shutdown of jobs/job-queues.ts.
 */
import {
  ANALYZE_QUEUE,
  connectMongo,
  createFhirClient,
  createLogger,
  DRIFT_QUEUE,
  loadConfig,
  loadModelCatalog,
  type AiModelDefinition,
  type EvaluateDriftJob,
  type Logger,
  type MonitorMedConfig,
} from '@monitormed/common';
import type Bull from 'bull';
import { DeadLetterStore } from './jobs/dead-letter.js';
import { JobQueues } from './jobs/job-queues.js';
import { loadPerformanceSettings, processAlertsJob } from './alerts/alerts-job.js';
import { loadNotificationSettings } from './alerts/notification-settings.js';
import { loadAlertRules, type AlertRule } from './alerts/rules.js';
import {
  ALERTS_QUEUE,
  RETENTION_QUEUE,
  ROLLUP_QUEUE,
  SURROGATE_QUEUE,
  type RollupWindowJob,
} from './jobs/definitions.js';
import { loadJobSettings, type JobSettings } from './jobs/job-settings.js';
import { EvaluationStore } from './store/evaluation-store.js';
import { loadSubgroupFeatures, processRollupJob } from './workers/rollup-window.js';
import { loadAnalyzerSettings, type AnalyzerSettings } from './settings.js';
import { ResultsStore } from './store/results-store.js';
import { SurrogateStore } from './surrogate/store.js';
import { SurrogateUncertainty } from './uncertainty/surrogate-uncertainty.js';
import { processAnalyzeJob } from './workers/analyze-result.js';
import type { WorkerContext } from './workers/context.js';
import { processDriftJob, rescheduleIfChanged, type DriftOutcome } from './workers/evaluate-drift.js';
import { processTrainSurrogateJob } from './workers/train-surrogate.js';

/** Options of {@link startAnalyzers}; every field has a default from the environment. */
export interface AnalyzersOptions {
  /** Service configuration; defaults to `loadConfig()`. Tests set `mongoDatabase` to a database of their own. */
  config?: MonitorMedConfig;
  /** Analyzer settings; fields given here override `loadAnalyzerSettings()`. */
  settings?: Partial<AnalyzerSettings>;
  /** Queue settings; fields given here override `loadJobSettings()`. */
  jobSettings?: Partial<JobSettings>;
  /** Bull key prefix in Redis; defaults to `bull`. Must match fhir-server-ext's prefix. */
  queuePrefix?: string;
  /** Time limit for connecting to Redis and Mongo at start; defaults to 10 000 ms. */
  connectTimeoutMs?: number;
  /** Alert rules; defaults to `loadAlertRules()` (MONITORMED_ALERT_RULES_FILE or the demo rules). */
  alertRules?: readonly AlertRule[];
  /** Models the alerts and surrogate training jobs know; defaults to `loadModelCatalog()`. */
  models?: readonly AiModelDefinition[];
  logger?: Logger;
}

/** Running analyzers. */
export interface Analyzers {
  /**
   * Stops taking jobs, waits up to the shutdown grace period for running jobs, and closes the queues and
   * Mongo; safe to repeat.
   */
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

  // Invalid rules or settings stop the start with the file or variable to fix, before any connection.
  const alertRules = options.alertRules ?? loadAlertRules();
  const models = options.models ?? loadModelCatalog();
  const notifications = loadNotificationSettings();
  const performance = loadPerformanceSettings();

  const mongo = await connectMongo(config, connectTimeoutMs).catch((err: unknown) => {
    throw new Error(`Cannot connect to MongoDB at ${config.mongoUrl}; start it or set MONGO_URL.`, {
      cause: err,
    });
  });
  const loadedJobSettings = loadJobSettings();
  const jobSettings: JobSettings = {
    ...loadedJobSettings,
    ...options.jobSettings,
    concurrency: {
      ...loadedJobSettings.concurrency,
      ...options.jobSettings?.concurrency,
      [ANALYZE_QUEUE]: settings.analyzeConcurrency,
      [DRIFT_QUEUE]: settings.driftConcurrency,
    },
  };
  const queues = new JobQueues({
    redisUrl: config.redisUrl,
    prefix,
    settings: jobSettings,
    deadLetters: new DeadLetterStore(mongo.db),
    log,
  });
  const driftQueue = queues.queue(DRIFT_QUEUE);

  const fhir = createFhirClient(config);
  const surrogates = new SurrogateStore(mongo.db);
  const uncertainty = new SurrogateUncertainty(fhir, surrogates, log, { samples: settings.mcDropoutSamples });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= closeAll(log, [
      ['job queues', () => queues.close()],
      ['surrogate sessions', () => uncertainty.close()],
      ['MongoDB', () => mongo.client.close()],
    ]);
    return closing;
  };

  try {
    queues.queue(ANALYZE_QUEUE);
    await queues.waitReady(connectTimeoutMs);

    const store = new ResultsStore(mongo.db);
    await store.ensureIndexes();
    await surrogates.ensureIndexes();
    await new DeadLetterStore(mongo.db).ensureIndexes();
    const evaluation = new EvaluationStore(mongo.db);
    await evaluation.ensureIndexes();
    const subgroupFeatures = loadSubgroupFeatures();
    const queueAlerts = (job: RollupWindowJob): Promise<void> =>
      queueAlertEvaluation(queues, models, log, job);

    const context: WorkerContext = {
      fhir,
      store,
      driftQueue,
      settings,
      log,
      uncertainty,
      evaluation,
      jobs: queues,
      rollupDelayMs: jobSettings.rollupDelayMs,
    };
    queues.process(ANALYZE_QUEUE, (job) => processAnalyzeJob(context, job));
    queues.process(DRIFT_QUEUE, (job) => processDriftJob(context, job));
    queues.process(ROLLUP_QUEUE, (job) =>
      processRollupJob({ results: store, evaluation, log, subgroupFeatures, afterRollup: queueAlerts }, job)
    );
    queues.process(ALERTS_QUEUE, (job) =>
      processAlertsJob(
        { db: mongo.db, fhir, rules: alertRules, models, notifications, log, performance },
        job
      )
    );
    queues.process(SURROGATE_QUEUE, (job) =>
      processTrainSurrogateJob({ fhir, surrogates, models, log, uncertainty }, job)
    );
    // A training in another worker process stored a new version; load it at this process's next result
    // instead of after the refresh period.
    queues.queue(SURROGATE_QUEUE).on('global:completed', (jobId: string, result: string) => {
      const modelId = modelIdOfTrainingResult(result);
      if (modelId === undefined) {
        log.warn(
          { jobId },
          'Surrogate training result has no model id; the new version loads within a minute'
        );
        return;
      }
      uncertainty.reload(modelId);
    });
    queues.process(RETENTION_QUEUE, async () => {
      const deleted = await evaluation.deleteExpired(new Date(), jobSettings.retentionDays);
      log.info({ deleted }, 'Deleted expired evaluation windows');
      return deleted;
    });

    // Bull keys a repeatable job by name, id and period, so every worker process adds the same one.
    await queues.queue(RETENTION_QUEUE).add(
      { runKey: 'periodic' },
      {
        jobId: 'retention/periodic',
        repeat: { every: jobSettings.retentionIntervalMs },
        removeOnComplete: true,
        removeOnFail: 100,
      }
    );
    driftQueue.on('completed', (job: Bull.Job<EvaluateDriftJob>, outcomes: DriftOutcome[]) => {
      rescheduleIfChanged(context, job.data, outcomes).catch((err: unknown) => {
        log.error({ jobId: job.id, err }, 'Rescheduling a drift evaluation failed');
      });
    });

    log.info({ database: config.mongoDatabase, ...settings }, 'Analyzers started');
    return { close };
  } catch (err) {
    await close().catch((closeError: unknown) => {
      log.error({ err: closeError }, 'Cleanup after a failed start failed');
    });
    throw err;
  }
}

/**
 * Queues the alert evaluation of a rolled-up window. The job id is per model and day, so a burst of rollups
 * queues one evaluation while it waits. Models outside the catalog are skipped, because the alerts job needs
 * the model's definition and fails on an unknown model.
 *
 * NOTE: bull drops the add while the same evaluation is active, so a rollup that ends during that run is
 * evaluated only by the next rollup of the window.
 */
async function queueAlertEvaluation(
  queues: JobQueues,
  models: readonly AiModelDefinition[],
  log: Logger,
  job: RollupWindowJob
): Promise<void> {
  const { modelId, window } = job;
  if (!models.some((model) => model.modelId === modelId)) {
    log.debug({ modelId, window }, 'Model is not in the catalog; no alert evaluation queued');
    return;
  }
  await queues.add(ALERTS_QUEUE, { modelId, window });
  log.debug({ modelId, window }, 'Queued the alert evaluation of a rolled-up window');
}

/** Reads the model id from a training job's return value, which bull publishes as JSON. */
function modelIdOfTrainingResult(result: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(result);
    const modelId =
      typeof parsed === 'object' && parsed !== null ? (parsed as { modelId?: unknown }).modelId : undefined;
    return typeof modelId === 'string' ? modelId : undefined;
  } catch {
    return undefined;
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
