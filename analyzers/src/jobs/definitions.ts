/**
 * The analyzers' bull queues, one per kind of work, with their payloads, idempotent job ids and default
 * retry options. Job ids are derived from the payload, so adding the same work twice queues it once while
 * the first job is still waiting, active, delayed or kept after it ends.
 */
import {
  ANALYZE_QUEUE,
  analyzeJobId,
  DRIFT_QUEUE,
  driftJobId,
  type AnalyzeResultJob,
  type EvaluateDriftJob,
} from '@monitormed/common';
import type Bull from 'bull';
import type { SurrogateTrainingSettings } from '../surrogate/training-settings.js';

/** Queue of window rollups: window sketches and metric rollups of one model version. */
export const ROLLUP_QUEUE = 'monitormed-rollup-window';

/** Queue of alert rule evaluations of one model and window. */
export const ALERTS_QUEUE = 'monitormed-evaluate-alerts';

/** Queue of surrogate model trainings. */
export const SURROGATE_QUEUE = 'monitormed-train-surrogate';

/** Queue of metric retention cleanups. */
export const RETENTION_QUEUE = 'monitormed-metric-retention';

/** One rollup of a model's results in one daily window into the daily, weekly and monthly metrics. */
export interface RollupWindowJob {
  modelId: string;
  /** Daily window key `YYYY-MM-DD`. */
  window: string;
}

/** One evaluation of a model's alert rules in one window. */
export interface EvaluateAlertsJob {
  modelId: string;
  window: string;
}

/**
 * One surrogate training of a model version. Only model, version and key make up the job id, so a second
 * request with the same key and other options is the same job.
 */
export interface TrainSurrogateJob {
  modelId: string;
  /** The model Device's version (Device.version[0].value) whose results are the pairs. */
  modelVersion: string;
  /** Caller-chosen key that makes a retrain request distinct, such as the date of the training data. */
  trainingKey: string;
  /** Earliest effective time of the results read, a FHIR dateTime (inclusive). */
  from?: string;
  /** Latest effective time of the results read, a FHIR dateTime (exclusive). */
  to?: string;
  /** Hours before a result in which an input value counts; defaults to the feature spec's lookback. */
  lookbackHours?: number;
  /** Hyperparameters that replace the training defaults of surrogate/train.ts. */
  training?: SurrogateTrainingSettings;
}

/** One retention cleanup. `runKey` is the UTC hour it belongs to, so repeated schedules run it once an hour. */
export interface RetentionJob {
  runKey: string;
}

/** Payload type of each queue. */
export interface JobPayloads {
  [ANALYZE_QUEUE]: AnalyzeResultJob;
  [DRIFT_QUEUE]: EvaluateDriftJob;
  [ROLLUP_QUEUE]: RollupWindowJob;
  [ALERTS_QUEUE]: EvaluateAlertsJob;
  [SURROGATE_QUEUE]: TrainSurrogateJob;
  [RETENTION_QUEUE]: RetentionJob;
}

/** Name of one of the analyzers' queues. */
export type QueueName = keyof JobPayloads;

/** All queue names, in the order the workers start them. */
export const QUEUE_NAMES: readonly QueueName[] = [
  ANALYZE_QUEUE,
  DRIFT_QUEUE,
  ROLLUP_QUEUE,
  ALERTS_QUEUE,
  SURROGATE_QUEUE,
  RETENTION_QUEUE,
];

/**
 * Tells whether a string names one of the analyzers' queues.
 * @param name - Any string, such as a command-line argument.
 * @returns True for one of {@link QUEUE_NAMES}.
 */
export function isQueueName(name: string): name is QueueName {
  return (QUEUE_NAMES as readonly string[]).includes(name);
}

/**
 * Builds the idempotent job id of a payload.
 * @param queue - The queue.
 * @param payload - The job's data.
 * @returns An id that is equal for equal work, such as `rollup/sepsis-risk/2026-03-14`.
 */
export function jobIdOf<Q extends QueueName>(queue: Q, payload: JobPayloads[Q]): string {
  const data: JobPayloads[QueueName] = payload;
  switch (queue) {
    case ANALYZE_QUEUE:
      return analyzeJobId(data as AnalyzeResultJob);
    case DRIFT_QUEUE:
      return driftJobId(data as EvaluateDriftJob);
    case ROLLUP_QUEUE: {
      const job = data as RollupWindowJob;
      return `rollup/${job.modelId}/${job.window}`;
    }
    case ALERTS_QUEUE: {
      const job = data as EvaluateAlertsJob;
      return `alerts/${job.modelId}/${job.window}`;
    }
    case SURROGATE_QUEUE: {
      const job = data as TrainSurrogateJob;
      return `surrogate/${job.modelId}/${job.modelVersion}/${job.trainingKey}`;
    }
    default: {
      const job = data as RetentionJob;
      return `retention/${job.runKey}`;
    }
  }
}

/**
 * Retries with exponential backoff (2 s, 4 s, 8 s, ...) for every queue. A job that fails its last attempt is
 * kept for 7 days in bull and copied to the dead-letter collection (see dead-letter.ts).
 */
export const DEFAULT_JOB_OPTIONS: Bull.JobOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2_000 },
  removeOnComplete: true,
  removeOnFail: { age: 7 * 24 * 3600 },
};

/**
 * Returns the default options of a queue's jobs. Surrogate trainings are rare and slow, so a completed one
 * is kept for 7 days like a failed one. Its outcome stays readable, and `Job.finished()` cannot miss a
 * training that completed and was removed before the caller started waiting.
 * @param queue - The queue.
 * @returns Options for `Queue.add`, without the job id.
 */
export function defaultJobOptions(queue: QueueName): Bull.JobOptions {
  return queue === SURROGATE_QUEUE
    ? { ...DEFAULT_JOB_OPTIONS, removeOnComplete: { age: 7 * 24 * 3600 } }
    : DEFAULT_JOB_OPTIONS;
}
