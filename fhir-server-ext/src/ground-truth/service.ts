/**
 * The ground-truth feature of fhir-server-ext: rest-hook Subscriptions for confirming resources and AI
 * results, the hook that queues them, and the worker that links them and records labels.
 *
 * The worker runs in fhir-server-ext rather than in the analyzers because linking is FHIR work (searches,
 * reads of versions, label writes) next to the Subscriptions it depends on. The analyzers only read the
 * stored labels and the concordance through readLabels and readConcordance of @monitormed/common.
 */
import {
  AIAST_SEARCH,
  GROUND_TRUTH_QUEUE,
  connectMongo,
  createFhirClient,
  loadModelCatalog,
  type AiModelDefinition,
  type GroundTruthJob,
  type Logger,
  type MongoHandle,
  type MonitorMedConfig,
} from '@monitormed/common';
import Bull from 'bull';
import type { Router } from 'express';
import { deleteOwnedSubscriptions, ensureSubscription } from '../subscription.js';
import { withTimeout } from '../timeout-error.js';
import { GROUND_TRUTH_HOOK_PATH, createGroundTruthHook } from './hook.js';
import { LabelStore } from './label-store.js';
import { processGroundTruthJob, sweepHorizon, type LinkerDependencies } from './linker.js';
import { LinkingError } from './linking-error.js';
import { loadGroundTruthRules, tokenSearch, type GroundTruthRule } from './rules.js';

/** Options of {@link createGroundTruth}. */
export interface GroundTruthOptions {
  config: MonitorMedConfig;
  log: Logger;
  /** Defaults to `loadGroundTruthRules()`. */
  rules?: GroundTruthRule[];
  /** Defaults to `loadModelCatalog()`. */
  models?: AiModelDefinition[];
  /** Bull key prefix in Redis; defaults to `bull`. Tests use a unique prefix per run. */
  queuePrefix?: string;
  /** Time limit of one Redis call; defaults to 5 000 ms. */
  queueTimeoutMs?: number;
  /** Prefix of the owner codes of the Subscriptions; defaults to `ground-truth`. */
  subscriptionOwner?: string;
  /** Appended to every Subscription criteria, such as `&_tag=...`; tests narrow the criteria to their data. */
  criteriaSuffix?: string;
  /** How long to wait for HAPI to activate a Subscription; defaults to 30 000 ms. */
  subscriptionTimeoutMs?: number;
  /** Delete the Subscriptions on close, as tests should. Defaults to false. */
  removeSubscriptionsOnClose?: boolean;
  /** Interval of the horizon sweep; defaults to 15 minutes, 0 turns it off. */
  horizonSweepIntervalMs?: number;
}

/** A created ground-truth feature. */
export interface GroundTruth {
  /** Router of the hook; mount it on the app before the not-found handler. */
  router: Router;
  /** Connects MongoDB, starts the worker and makes sure the Subscriptions deliver to `serverBaseUrl`. */
  start(serverBaseUrl: string): Promise<void>;
  /** Runs the horizon rules once; see sweepHorizon. */
  sweepHorizon(now?: Date): Promise<number>;
  /** The label store, once started. */
  store(): LabelStore;
  /** Ids of the active Subscriptions. */
  subscriptionIds(): string[];
  /** Stops the worker and sweep, deletes the Subscriptions if asked, closes queue and MongoDB; safe to call twice. */
  close(): Promise<void>;
}

/** Builds the Subscriptions of the feature as pairs of owner suffix and criteria. */
function subscriptionCriteria(
  rules: readonly GroundTruthRule[],
  models: readonly AiModelDefinition[]
): [string, string][] {
  const reportCodes = rules.flatMap((r) => r.reports?.diagnosticReportCodes ?? []);
  const observationCodes = rules.flatMap((r) => [
    ...(r.reports?.textObservationCodes ?? []),
    ...(r.labs ?? []).map((l) => l.code),
  ]);
  const conditionCodes = rules.flatMap((r) => r.diagnoses?.codes ?? []);
  const outputCodes = models
    .filter((m) => rules.some((r) => r.modelId === m.modelId))
    .map((m) => m.outputCode);

  const criteria: [string, string][] = [];
  if (reportCodes.length > 0) {
    criteria.push(['reports', `DiagnosticReport?code=${tokenSearch(reportCodes)}`]);
  }
  if (observationCodes.length > 0) {
    criteria.push(['observations', `Observation?code=${tokenSearch(observationCodes)}`]);
  }
  if (conditionCodes.length > 0) {
    criteria.push(['conditions', `Condition?code=${tokenSearch(conditionCodes)}`]);
  }
  if (outputCodes.length > 0) {
    criteria.push(['ai-results', `Observation?_security=${AIAST_SEARCH}&code=${tokenSearch(outputCodes)}`]);
  }
  return criteria;
}

/**
 * Creates the ground-truth feature; nothing connects until `start`.
 * @param options - Configuration, logger and overrides.
 * @throws GroundTruthConfigError when the rules file is invalid.
 */
export function createGroundTruth(options: GroundTruthOptions): GroundTruth {
  const { config, log } = options;
  const rules = options.rules ?? loadGroundTruthRules();
  const models = options.models ?? loadModelCatalog();
  const queueTimeoutMs = options.queueTimeoutMs ?? 5_000;
  const owner = options.subscriptionOwner ?? 'ground-truth';
  const client = createFhirClient(config);

  const queue = new Bull<GroundTruthJob>(GROUND_TRUTH_QUEUE, config.redisUrl, {
    prefix: options.queuePrefix ?? 'bull',
  });
  const router = createGroundTruthHook({
    queue,
    secret: config.subscriptionSecret,
    log,
    queueTimeoutMs,
    // Retries cover a FHIR server or MongoDB that is briefly down. Completed jobs stay a day, so a
    // redelivery of the same version within a day is recognised and not queued again.
    jobOptions: {
      attempts: 5,
      backoff: { type: 'exponential', delay: 2_000 },
      removeOnComplete: { age: 24 * 3600 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  });

  let mongo: MongoHandle | undefined;
  let store: LabelStore | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  const ownedSubscriptions: string[] = [];
  const ids: string[] = [];

  const deps = (): LinkerDependencies => {
    if (store === undefined) {
      throw new Error('The ground-truth feature is not started; call start() first.');
    }
    return { client, store, rules, models, log };
  };

  const start = async (serverBaseUrl: string): Promise<void> => {
    await withTimeout(
      queue.isReady().then(() => queue.client.ping()),
      queueTimeoutMs,
      `Redis at ${config.redisUrl} did not respond within ${queueTimeoutMs} ms; start it or set REDIS_URL.`
    );
    mongo = await connectMongo(config);
    store = new LabelStore(mongo.db);
    await store.ensureIndexes();

    void queue.process(1, async (job) => {
      try {
        const summary = await processGroundTruthJob(deps(), job.data);
        log.info({ jobId: job.id, ...summary }, 'Ground-truth job done');
        return summary;
      } catch (err) {
        // An AI result without patient, time or score cannot become valid by retrying.
        if (err instanceof LinkingError) {
          log.warn({ jobId: job.id, err }, 'Ground-truth job skipped: the resource cannot be linked');
          return { changed: 0, examined: 0 };
        }
        log.error({ jobId: job.id, err }, 'Ground-truth job failed; bull retries it');
        throw err;
      }
    });

    const endpoint = `${serverBaseUrl}${GROUND_TRUTH_HOOK_PATH}`;
    const suffix = options.criteriaSuffix ?? '';
    await Promise.all(
      subscriptionCriteria(rules, models).map(async ([name, criteria]) => {
        const code = `${owner}-${name}`;
        ownedSubscriptions.push(code);
        const subscription = await ensureSubscription(
          client,
          { owner: code, criteria: `${criteria}${suffix}`, endpoint, secret: config.subscriptionSecret },
          { timeoutMs: options.subscriptionTimeoutMs ?? 30_000, pollIntervalMs: 250 },
          log
        );
        ids.push(subscription.id);
      })
    );

    const intervalMs = options.horizonSweepIntervalMs ?? 15 * 60_000;
    if (intervalMs > 0) {
      sweepTimer = setInterval(() => {
        sweepHorizon(deps(), new Date()).then(
          (changed) => {
            log.info({ changed }, 'Ground-truth horizon sweep done');
          },
          (err: unknown) => {
            log.error({ err }, 'Ground-truth horizon sweep failed; the next sweep retries');
          }
        );
      }, intervalMs);
      sweepTimer.unref();
    }
  };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const failures: unknown[] = [];
      clearInterval(sweepTimer);

      if (options.removeSubscriptionsOnClose === true) {
        // Each delete waits for HAPI to settle, so the owners are deleted in parallel.
        const deletes = await Promise.allSettled(
          ownedSubscriptions.map((code) => deleteOwnedSubscriptions(client, code))
        );
        for (const result of deletes) {
          if (result.status === 'rejected') {
            failures.push(result.reason);
          }
        }
      }
      try {
        await queue.close();
      } catch (err) {
        failures.push(err);
      }
      try {
        await mongo?.client.close();
      } catch (err) {
        failures.push(err);
      }

      for (const failure of failures) {
        log.error({ err: failure }, 'Ground-truth cleanup step failed');
      }
      if (failures.length > 0) {
        throw new AggregateError(
          failures,
          `The ground-truth feature stopped with ${failures.length} failed cleanup step(s).`
        );
      }
    })();
    return closing;
  };

  return {
    router,
    start,
    sweepHorizon: (now = new Date()) => sweepHorizon(deps(), now),
    store: () => deps().store,
    subscriptionIds: () => [...ids],
    close,
  };
}
