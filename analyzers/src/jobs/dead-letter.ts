/**
 * Dead-letter store: a job that failed its last attempt (or was discarded as unusable) is copied, with its
 * payload and error, to the Mongo collection {@link DEAD_JOBS_COLLECTION}, where an operator lists it and
 * queues it again after fixing the cause. Bull keeps failed jobs only for a limited time, so this copy is the
 * record that nothing accepted was lost.
 */
import type Bull from 'bull';
import type { Collection, Db } from 'mongodb';
import type { QueueName } from './definitions.js';

/** Collection of jobs that exhausted their attempts. */
export const DEAD_JOBS_COLLECTION = 'dead_jobs';

/** One dead job, keyed by `{queue}:{jobId}`. */
export interface DeadJobDocument {
  _id: string;
  queue: QueueName;
  jobId: string;
  data: unknown;
  /** Attempts that had been made when the job failed for good. */
  attemptsMade: number;
  /** Attempts the job was allowed. */
  attempts: number;
  error: string;
  /** Bull's stack traces, one per failed attempt, newest last. */
  stacktrace: string[];
  failedAt: Date;
  /** Times the job was queued again from here. */
  retries: number;
  /** Set while the job is queued again; cleared when it fails again. */
  retriedAt: Date | null;
}

/** Key of a dead job: queue name and bull job id. */
export function deadJobKey(queue: QueueName, jobId: string): string {
  return `${queue}:${jobId}`;
}

/** Typed access to the dead-letter collection. */
export class DeadLetterStore {
  private readonly collection: Collection<DeadJobDocument>;

  constructor(db: Db) {
    this.collection = db.collection<DeadJobDocument>(DEAD_JOBS_COLLECTION);
  }

  /** Creates the index used by `list`; safe to repeat. */
  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ failedAt: -1 }, { name: 'failed_at' }, undefined);
  }

  /**
   * Records a job that failed for good. Recording it twice (a failure seen by two processes) keeps one
   * document and the later error.
   * @param queue - The job's queue.
   * @param job - The failed job.
   * @param error - The last error.
   */
  async record(queue: QueueName, job: Bull.Job, error: Error): Promise<void> {
    const jobId = String(job.id);
    await this.collection.updateOne(
      { _id: deadJobKey(queue, jobId) },
      {
        $set: {
          queue,
          jobId,
          data: job.data as unknown,
          attemptsMade: job.attemptsMade,
          attempts: job.opts.attempts ?? 1,
          error: error.message,
          stacktrace: job.stacktrace,
          failedAt: new Date(),
          retriedAt: null,
        },
        $setOnInsert: { retries: 0 },
      },
      { upsert: true }
    );
  }

  /**
   * Lists dead jobs, newest failure first.
   * @param limit - Maximum documents returned.
   */
  async list(limit = 100): Promise<DeadJobDocument[]> {
    return this.collection.find({}).sort({ failedAt: -1 }).limit(limit).toArray();
  }

  /** Reads one dead job by key, or returns undefined. */
  async find(key: string): Promise<DeadJobDocument | undefined> {
    return (await this.collection.findOne({ _id: key })) ?? undefined;
  }

  /** Marks a dead job as queued again. */
  async markRetried(key: string): Promise<void> {
    await this.collection.updateOne({ _id: key }, { $set: { retriedAt: new Date() }, $inc: { retries: 1 } });
  }

  /**
   * Deletes dead jobs.
   * @param key - One key, or undefined for all.
   * @returns Documents deleted.
   */
  async remove(key?: string): Promise<number> {
    const result = await this.collection.deleteMany(key === undefined ? {} : { _id: key });
    return result.deletedCount;
  }
}
