/**
 * `train-surrogate --queue`: queues a surrogate training for the analyzer workers under its idempotent job
 * id, and optionally waits for its outcome.
 */
import type { MonitorMedConfig } from '@monitormed/common';
import Bull from 'bull';
import { defaultJobOptions, jobIdOf, SURROGATE_QUEUE, type TrainSurrogateJob } from '../jobs/definitions.js';
import { SurrogateStore } from '../surrogate/store.js';
import { PeerUnavailableError } from './peer-unavailable-error.js';
import { connectMongoForCli } from './surrogate-cli.js';
import { UsageError } from './usage-error.js';

/** Time allowed for Redis to reply to a PING before the command fails. */
const REDIS_TIMEOUT_MS = 5_000;

/** Options of {@link queueSurrogateTraining}. */
export interface QueueTrainingOptions {
  config: MonitorMedConfig;
  /** Bull key prefix of the workers' queues. */
  queuePrefix: string;
  /** Wait until a worker finishes the job and include its outcome. */
  wait: boolean;
}

/** Output of the command. */
export interface QueuedTraining {
  jobId: string;
  /**
   * `queued` when this call added the job, `already-trained` when a version for the job id is stored,
   * `completed` after waiting, or bull's state of a job with that id that exists already (waiting, active,
   * delayed).
   */
  state: string;
  payload: TrainSurrogateJob;
  /** Stored version, when already trained. */
  surrogateVersion?: number;
  /** The worker's outcome, with `--wait`. */
  result?: unknown;
}

/**
 * Queues a surrogate training unless the same job id was trained or is queued already.
 * @param payload - The job.
 * @param options - Peers, prefix and whether to wait.
 * @returns The job id and state, and with `wait` the worker's outcome.
 * @throws PeerUnavailableError when MongoDB or Redis cannot be reached.
 * @throws UsageError when a job with the id failed earlier, or failed while waited for, with bull's reason.
 */
export async function queueSurrogateTraining(
  payload: TrainSurrogateJob,
  options: QueueTrainingOptions
): Promise<QueuedTraining> {
  const { config } = options;
  const jobId = jobIdOf(SURROGATE_QUEUE, payload);

  // Bull removes a completed job, so the stored version is the lasting record of a finished training.
  const mongo = await connectMongoForCli(config);
  try {
    const stored = await new SurrogateStore(mongo.db).findByTrainingJob(jobId);
    if (stored !== undefined) {
      return { jobId, state: 'already-trained', payload, surrogateVersion: stored.version };
    }
  } finally {
    await mongo.client.close();
  }

  const queue = new Bull<TrainSurrogateJob>(SURROGATE_QUEUE, config.redisUrl, {
    prefix: options.queuePrefix,
  });
  try {
    await waitForRedis(queue, config.redisUrl);

    let job = await queue.getJob(jobId);
    let state: string;
    if (job === null) {
      job = await queue.add(payload, { ...defaultJobOptions(SURROGATE_QUEUE), jobId });
      state = 'queued';
    } else {
      state = await job.getState();
    }
    if (state === 'failed') {
      throw new UsageError(
        `Surrogate training job ${jobId} failed earlier: ${job.failedReason ?? 'no reason recorded'} Queue it with another --key, or retry it with dead-jobs.ts retry '${SURROGATE_QUEUE}:${jobId}'.`
      );
    }
    if (!options.wait) {
      return { jobId, state, payload };
    }

    try {
      const result: unknown = await job.finished();
      return { jobId, state: 'completed', payload, result };
    } catch (err) {
      throw new UsageError(`Surrogate training job ${jobId} failed: ${(err as Error).message}`);
    }
  } finally {
    await queue.close();
  }
}

/** Pings Redis through the queue's client, so that an unreachable Redis fails fast instead of retrying. */
async function waitForRedis(queue: Bull.Queue<TrainSurrogateJob>, redisUrl: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(
        new PeerUnavailableError(
          `Redis at ${redisUrl} did not respond within ${String(REDIS_TIMEOUT_MS)} ms; start it or set REDIS_URL.`
        )
      );
    }, REDIS_TIMEOUT_MS);
  });
  try {
    await Promise.race([queue.isReady().then(() => queue.client.ping()), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
