import Queue from 'bull';
import { ANALYZE_QUEUE, COLLECTIONS, DRIFT_QUEUE, type MongoHandle } from '@monitormed/common';

/** Options of {@link waitForAnalysis}. */
export interface SettleOptions {
  mongo: MongoHandle;
  redisUrl: string;
  queuePrefix: string;
  /** AI results the scenario delivered; analysis is done when this many are analysed. */
  expectedResults: number;
  /** Model ids whose results count. */
  modelIds: string[];
  timeoutMs: number;
  /** How long the queues must stay empty before the analysis counts as settled. */
  quietMs?: number;
  onProgress?: (analyzed: number, pendingJobs: number) => void;
}

/** Thrown when the analyzers do not catch up with the scenario in time. */
export class SettleTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SettleTimeoutError';
  }
}

const POLL_INTERVAL_MS = 1_000;

async function pendingJobs(queues: Queue.Queue[]): Promise<number> {
  let pending = 0;
  for (const queue of queues) {
    const counts = await queue.getJobCounts();
    pending += counts.waiting + counts.active + counts.delayed;
  }
  return pending;
}

/**
 * Empties the demo's analysis queues, so that jobs a failed or stopped earlier run left in Redis do
 * not count in, or slow down, this run. The demo's MongoDB database is emptied at the same time.
 */
export async function clearAnalysisQueues(redisUrl: string, queuePrefix: string): Promise<void> {
  for (const name of [ANALYZE_QUEUE, DRIFT_QUEUE]) {
    const queue = new Queue(name, redisUrl, { prefix: queuePrefix });
    try {
      await queue.obliterate({ force: true });
    } finally {
      await queue.close();
    }
  }
}

/**
 * Waits until every delivered AI result has been analysed and both analyzer queues have stayed empty
 * for `quietMs`. Deliveries from HAPI's rest-hook subscription are asynchronous, so an empty queue
 * alone does not prove the analysis is complete.
 * @param options - What to wait for and how long.
 * @returns The number of analysed results.
 * @throws SettleTimeoutError with the counts reached when `timeoutMs` passes first.
 */
export async function waitForAnalysis(options: SettleOptions): Promise<number> {
  const quietMs = options.quietMs ?? 5_000;
  const queueOptions = { redis: options.redisUrl, prefix: options.queuePrefix };
  const queues = [
    new Queue(ANALYZE_QUEUE, options.redisUrl, queueOptions),
    new Queue(DRIFT_QUEUE, options.redisUrl, queueOptions),
  ];
  const results = options.mongo.db.collection(COLLECTIONS.aiResults);
  const deadline = Date.now() + options.timeoutMs;
  let quietSince: number | undefined;

  try {
    for (;;) {
      const analyzed = await results.countDocuments({
        modelId: { $in: options.modelIds },
        status: 'analyzed',
      });
      const pending = await pendingJobs(queues);
      options.onProgress?.(analyzed, pending);

      if (analyzed >= options.expectedResults && pending === 0) {
        quietSince ??= Date.now();
        if (Date.now() - quietSince >= quietMs) {
          return analyzed;
        }
      } else {
        quietSince = undefined;
      }

      if (Date.now() > deadline) {
        throw new SettleTimeoutError(
          `Analysis did not settle within ${options.timeoutMs} ms: ${analyzed} of ${options.expectedResults} results analysed, ${pending} jobs pending. See the analyzers' log lines on stderr.`
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  } finally {
    await Promise.all(queues.map((queue) => queue.close()));
  }
}
