/**
 * Bull queues of the analyzers with explicit lock and stalled-job settings, per-queue concurrency, the copy
 * of finally failed jobs to the dead-letter store, and a graceful close: stop taking jobs, give active jobs
 * a grace period, then close every connection.
 */
import type { Logger } from '@monitormed/common';
import Bull from 'bull';
import { DeadLetterStore } from './dead-letter.js';
import { defaultJobOptions, jobIdOf, type JobPayloads, type QueueName } from './definitions.js';
import type { JobSettings } from './job-settings.js';

/** Options of {@link JobQueues}. */
export interface JobQueuesOptions {
  redisUrl: string;
  /** Bull key prefix in Redis; every producer and worker of a queue must use the same one. */
  prefix: string;
  settings: JobSettings;
  /** Store of finally failed jobs. Without it they stay only in bull's failed set. */
  deadLetters?: DeadLetterStore;
  log: Logger;
}

/** Processor of one queue's jobs; its return value is stored by bull as the job's result. */
export type JobProcessor<Q extends QueueName> = (job: Bull.Job<JobPayloads[Q]>) => Promise<unknown>;

/** The analyzers' queues in one process, created on first use. */
export class JobQueues {
  private readonly queues = new Map<QueueName, Bull.Queue>();
  private readonly processing = new Set<QueueName>();
  private closing: Promise<void> | undefined;

  constructor(private readonly options: JobQueuesOptions) {}

  /**
   * Returns the queue of a kind of work, creating it with the lock and stalled-job settings.
   * @param name - Queue name.
   */
  queue<Q extends QueueName>(name: Q): Bull.Queue<JobPayloads[Q]> {
    let queue = this.queues.get(name);
    if (queue === undefined) {
      const { settings } = this.options;
      queue = new Bull<JobPayloads[Q]>(name, this.options.redisUrl, {
        prefix: this.options.prefix,
        settings: {
          lockDuration: settings.lockDurationMs,
          lockRenewTime: settings.lockDurationMs / 2,
          stalledInterval: settings.stalledIntervalMs,
          maxStalledCount: settings.maxStalledCount,
        },
      });
      queue.on('error', (err: Error) => {
        this.options.log.error({ queue: name, err }, 'Job queue error');
      });
      this.queues.set(name, queue);
    }
    return queue as Bull.Queue<JobPayloads[Q]>;
  }

  /**
   * Adds a job with its idempotent id and the default retry options. While a job with the same id exists in
   * bull, the call returns that job and queues nothing.
   * @param name - Queue name.
   * @param payload - Job data.
   * @param options - Options that override the queue's {@link defaultJobOptions}, such as `delay`.
   * @returns The queued (or already existing) job.
   */
  async add<Q extends QueueName>(
    name: Q,
    payload: JobPayloads[Q],
    options: Bull.JobOptions = {}
  ): Promise<Bull.Job<JobPayloads[Q]>> {
    return this.queue(name).add(payload, {
      ...defaultJobOptions(name),
      ...options,
      jobId: jobIdOf(name, payload),
    });
  }

  /**
   * Starts processing a queue with the configured concurrency. A job that fails for good is copied to the
   * dead-letter store.
   * @param name - Queue name.
   * @param processor - Handles one job; throwing fails the attempt, and bull retries it with backoff.
   */
  process<Q extends QueueName>(name: Q, processor: JobProcessor<Q>): void {
    const queue = this.queue(name);
    const { log, deadLetters, settings } = this.options;
    this.processing.add(name);

    queue.on('failed', (job: Bull.Job, err: Error) => {
      void this.handleFailure(name, job, err).catch((recordError: unknown) => {
        log.error({ queue: name, jobId: job.id, err: recordError }, 'Recording a dead job failed');
      });
    });
    queue.on('stalled', (job: Bull.Job) => {
      log.warn(
        { queue: name, jobId: job.id },
        'Job stalled; its worker stopped renewing the lock, so it runs again'
      );
    });

    void queue.process(settings.concurrency[name], processor).catch((err: unknown) => {
      log.error({ queue: name, err }, 'Job processing stopped');
    });
    if (deadLetters === undefined) {
      log.warn({ queue: name }, 'No dead-letter store; finally failed jobs stay only in bull');
    }
  }

  /**
   * Waits until Redis responds for every queue created so far.
   * @throws Error naming the Redis address when it does not respond within `timeoutMs`.
   */
  async waitReady(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(
          new Error(
            `Redis at ${this.options.redisUrl} did not respond within ${timeoutMs} ms; start it or set REDIS_URL.`
          )
        );
      }, timeoutMs);
    });
    try {
      // isReady() alone resolves before Redis responds, so a PING checks the connection.
      const pings = [...this.queues.values()].map((queue) => queue.isReady().then(() => queue.client.ping()));
      await Promise.race([Promise.all(pings), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stops taking jobs, waits up to `shutdownGraceMs` for active jobs, then closes every queue. A job still
   * running after the grace period keeps no lock, so another worker takes it over as a stalled job. Safe to
   * call twice.
   */
  close(): Promise<void> {
    this.closing ??= this.closeQueues();
    return this.closing;
  }

  private async closeQueues(): Promise<void> {
    const { log, settings } = this.options;
    const processing = [...this.processing].map((name) => this.queue(name));
    const failures: unknown[] = [];

    // Step 1: pause locally without waiting, so no worker of this process takes another job.
    await Promise.all(
      processing.map((queue) =>
        queue.pause(true, true).catch((err: unknown) => {
          failures.push(err);
        })
      )
    );

    // Step 2: give active jobs the grace period.
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => {
        resolve('timeout');
      }, settings.shutdownGraceMs);
    });
    const finished = Promise.all(processing.map((queue) => queue.whenCurrentJobsFinished())).then(
      () => 'finished' as const,
      (err: unknown) => {
        failures.push(err);
        return 'finished' as const;
      }
    );
    const outcome = await Promise.race([finished, graceOver]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      log.warn(
        { graceMs: settings.shutdownGraceMs },
        'Active jobs did not finish within the grace period; closing anyway, another worker takes them over'
      );
    }

    // Step 3: close every queue, even when one fails.
    for (const [name, queue] of this.queues) {
      try {
        await queue.close(true);
      } catch (err) {
        log.error({ queue: name, err }, 'Closing a job queue failed');
        failures.push(err);
      }
    }
    if (failures.length > 0) {
      throw new AggregateError(failures, `Job queues closed with ${failures.length} failure(s).`);
    }
  }

  private async handleFailure(name: QueueName, job: Bull.Job, err: Error): Promise<void> {
    const { log, deadLetters } = this.options;

    // A failed attempt that bull retries moves the job to delayed or waiting; only a final failure leaves
    // it in the failed set. Discarded jobs also end there.
    const final = await job.isFailed();
    log.error(
      { queue: name, jobId: job.id, attempt: job.attemptsMade, final, err },
      final ? 'Job failed for good' : 'Job attempt failed; bull retries it'
    );
    if (final && deadLetters !== undefined) {
      await deadLetters.record(name, job, err);
    }
  }
}
