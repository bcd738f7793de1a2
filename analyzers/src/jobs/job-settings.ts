/**
 * Worker settings of the bull queues, read from environment variables: concurrency per queue, bull's lock
 * and stalled-job checks, and the shutdown grace period.
 */
import { ANALYZE_QUEUE, DRIFT_QUEUE } from '@monitormed/common';
import { readNumber, type Env } from '../settings.js';
import type { RetentionDays } from '../store/evaluation-store.js';
import {
  ALERTS_QUEUE,
  RETENTION_QUEUE,
  ROLLUP_QUEUE,
  SURROGATE_QUEUE,
  type QueueName,
} from './definitions.js';

/** Settings shared by every worker process. */
export interface JobSettings {
  /** Jobs of each queue processed in parallel by one process. */
  concurrency: Record<QueueName, number>;
  /**
   * Time a worker's lock on an active job lasts (JOB_LOCK_DURATION_MS); the worker renews it every half
   * period. When a worker dies, its jobs count as stalled once the lock has expired.
   */
  lockDurationMs: number;
  /** Period of the check that moves stalled jobs back to waiting (JOB_STALLED_INTERVAL_MS). */
  stalledIntervalMs: number;
  /** Times a job may stall before it fails for good (JOB_MAX_STALLED_COUNT). */
  maxStalledCount: number;
  /** Time active jobs get to finish after SIGTERM before the worker closes anyway (SHUTDOWN_GRACE_MS). */
  shutdownGraceMs: number;
  /**
   * Max age in days of stored metric and sketch windows per granularity (RETENTION_DAYS_HOUR, _DAY, _WEEK,
   * _MONTH); the retention job deletes older windows every `retentionIntervalMs`.
   */
  retentionDays: RetentionDays;
  /** Period of the retention job (RETENTION_INTERVAL_MS). */
  retentionIntervalMs: number;
  /**
   * Delay of a day's rollup after a drift evaluation (ROLLUP_DELAY_MS). The rollup's job id is per model and
   * day, so every evaluation within the delay shares one rollup.
   */
  rollupDelayMs: number;
}

const CONCURRENCY_VARIABLES: Record<QueueName, [string, number]> = {
  [ANALYZE_QUEUE]: ['ANALYZE_CONCURRENCY', 4],
  [DRIFT_QUEUE]: ['DRIFT_CONCURRENCY', 2],
  [ROLLUP_QUEUE]: ['ROLLUP_CONCURRENCY', 2],
  [ALERTS_QUEUE]: ['ALERTS_CONCURRENCY', 2],
  [SURROGATE_QUEUE]: ['SURROGATE_CONCURRENCY', 1],
  [RETENTION_QUEUE]: ['RETENTION_CONCURRENCY', 1],
};

const isPositiveInteger = (value: number): boolean => Number.isInteger(value) && value >= 1;

/**
 * Reads the job settings from `env`, with defaults.
 * @param env - Environment variables, by default `process.env`.
 * @returns The settings.
 * @throws ConfigError when a variable is set to an unusable value.
 */
export function loadJobSettings(env: Env = process.env): JobSettings {
  const concurrency = {} as Record<QueueName, number>;
  for (const [queue, [variable, fallback]] of Object.entries(CONCURRENCY_VARIABLES) as [
    QueueName,
    [string, number],
  ][]) {
    concurrency[queue] = readNumber(
      env,
      variable,
      fallback,
      isPositiveInteger,
      'a whole number of jobs, at least 1'
    );
  }

  // Bull's defaults are 30 s for both, so a dead worker's jobs wait up to a minute before another takes them.
  const lockDurationMs = readNumber(
    env,
    'JOB_LOCK_DURATION_MS',
    30_000,
    (v) => isPositiveInteger(v) && v >= 1_000,
    'milliseconds, at least 1000'
  );
  const stalledIntervalMs = readNumber(
    env,
    'JOB_STALLED_INTERVAL_MS',
    30_000,
    (v) => isPositiveInteger(v) && v >= 100,
    'milliseconds, at least 100'
  );
  const maxStalledCount = readNumber(
    env,
    'JOB_MAX_STALLED_COUNT',
    2,
    (v) => Number.isInteger(v) && v >= 0,
    'a whole number, 0 or more'
  );
  const shutdownGraceMs = readNumber(
    env,
    'SHUTDOWN_GRACE_MS',
    25_000,
    (v) => Number.isInteger(v) && v >= 0,
    'milliseconds, 0 or more'
  );

  const days = (variable: string, fallback: number): number =>
    readNumber(env, variable, fallback, isPositiveInteger, 'a whole number of days, at least 1');
  const retentionDays: RetentionDays = {
    hour: days('RETENTION_DAYS_HOUR', 31),
    day: days('RETENTION_DAYS_DAY', 400),
    week: days('RETENTION_DAYS_WEEK', 1_100),
    month: days('RETENTION_DAYS_MONTH', 3_700),
  };
  const retentionIntervalMs = readNumber(
    env,
    'RETENTION_INTERVAL_MS',
    3_600_000,
    (v) => isPositiveInteger(v) && v >= 1_000,
    'milliseconds, at least 1000'
  );
  const rollupDelayMs = readNumber(
    env,
    'ROLLUP_DELAY_MS',
    30_000,
    (v) => Number.isInteger(v) && v >= 0,
    'milliseconds, 0 or more'
  );
  return {
    rollupDelayMs,
    concurrency,
    lockDurationMs,
    stalledIntervalMs,
    maxStalledCount,
    shutdownGraceMs,
    retentionDays,
    retentionIntervalMs,
  };
}
