/**
 * Dead-letter store of the audit queue: an AuditEvent whose job failed every attempt is copied, with
 * the last error, to the MongoDB collection {@link AUDIT_DEAD_LETTERS_COLLECTION}. The FHIR server has
 * no copy of such an event, so the store is the record that a read of patient data went unaudited, until
 * an operator fixes the cause and replays the store (src/cli/audit-dead-letters.ts). A Prometheus gauge reports the number of stored events.
 */
import type { AuditEvent } from '@medplum/fhirtypes';
import { connectMongo, type Logger, type MongoHandle, type MonitorMedConfig } from '@monitormed/common';
import type Bull from 'bull';
import { Counter, Gauge, type Registry } from 'prom-client';

/** Collection of AuditEvents whose jobs failed every attempt. */
export const AUDIT_DEAD_LETTERS_COLLECTION = 'dead_audit_events';

/** One AuditEvent that was never written, keyed by its bull job id (the AuditEvent id). */
export interface DeadAuditEventDocument {
  _id: string;
  auditEvent: AuditEvent;
  /** Message of the last failed attempt. */
  error: string;
  attemptsMade: number;
  /** Attempts the job was allowed. */
  attempts: number;
  failedAt: Date;
}

/** Outcome of {@link AuditDeadLetters.replay}. */
export interface AuditReplayResult {
  written: string[];
  failed: { id: string; error: string }[];
}

/** The dead-letter store of one fhir-server-ext. */
export interface AuditDeadLetters {
  /**
   * Stores the AuditEvent of a job that failed for good. Storing the same job twice keeps one document
   * with the later error.
   * @returns The number of AuditEvents in the store afterwards.
   */
  record(job: Bull.Job<AuditEvent>, error: Error): Promise<number>;
  /** Returns the number of AuditEvents in the store. */
  count(): Promise<number>;
  /** Returns up to `limit` stored AuditEvents, oldest failure first. */
  list(limit: number): Promise<DeadAuditEventDocument[]>;
  /**
   * Writes every stored AuditEvent with `write` and removes each one that was written, so a replay that
   * stops half-way can be run again.
   * @returns The ids written and the ids still stored with the new error.
   */
  replay(write: (event: AuditEvent) => Promise<void>): Promise<AuditReplayResult>;
  /** Closes the MongoDB connection if one was opened; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Creates the store. MongoDB is connected at the first call that needs it, which is a job's final
 * failure or a scrape of the gauge.
 * @param config - `mongoUrl` and `mongoDatabase`.
 * @param timeoutMs - Time limit of the connection attempt.
 */
export function createAuditDeadLetters(
  config: Pick<MonitorMedConfig, 'mongoUrl' | 'mongoDatabase'>,
  timeoutMs = 5_000
): AuditDeadLetters {
  let mongo: Promise<MongoHandle> | undefined;
  const collection = async () => {
    mongo ??= connectMongo(config, timeoutMs).catch((err: unknown) => {
      // The next call tries again instead of reusing the failed attempt.
      mongo = undefined;
      throw err;
    });
    return (await mongo).db.collection<DeadAuditEventDocument>(AUDIT_DEAD_LETTERS_COLLECTION);
  };

  return {
    async record(job, error) {
      const dead = await collection();
      await dead.updateOne(
        { _id: String(job.id) },
        {
          $set: {
            auditEvent: job.data,
            error: error.message,
            attemptsMade: job.attemptsMade,
            attempts: job.opts.attempts ?? 1,
            failedAt: new Date(),
          },
        },
        { upsert: true }
      );
      return dead.countDocuments({});
    },
    async count() {
      return (await collection()).countDocuments({});
    },
    async list(limit) {
      return (await collection()).find({}).sort({ failedAt: 1 }).limit(limit).toArray();
    },
    async replay(write) {
      const dead = await collection();
      const result: AuditReplayResult = { written: [], failed: [] };
      for (const document of await dead.find({}).sort({ failedAt: 1 }).toArray()) {
        try {
          await write(document.auditEvent);
        } catch (err) {
          const error = (err as Error).message;
          await dead.updateOne({ _id: document._id }, { $set: { error, failedAt: new Date() } });
          result.failed.push({ id: document._id, error });
          continue;
        }
        await dead.deleteOne({ _id: document._id });
        result.written.push(document._id);
      }
      return result;
    },
    async close() {
      const pending = mongo;
      mongo = undefined;
      if (pending !== undefined) {
        await (await pending.catch(() => undefined))?.client.close();
      }
    },
  };
}

/** Prometheus metrics of the dead-letter store. */
export interface AuditDeadLetterMetrics {
  /** AuditEvents this process moved to the store. */
  recorded: Counter;
}

/**
 * Registers the gauge `monitormed_audit_event_dead_letters`, read from the store at each scrape, and the
 * counter `monitormed_audit_events_dead_lettered_total` of this process.
 * @param log - Receives one warning when the store cannot be counted, and one line when it can again.
 */
export function registerAuditDeadLetterMetrics(
  registry: Registry,
  deadLetters: AuditDeadLetters,
  log: Logger
): AuditDeadLetterMetrics {
  let countFailing = false;
  new Gauge({
    name: 'monitormed_audit_event_dead_letters',
    help: `AuditEvents whose jobs failed every attempt, stored in MongoDB (${AUDIT_DEAD_LETTERS_COLLECTION}) and not on the FHIR server.`,
    registers: [registry],
    async collect() {
      try {
        this.set(await deadLetters.count());
        if (countFailing) {
          countFailing = false;
          log.info('Counting the dead AuditEvents works again');
        }
      } catch (err) {
        // The gauge keeps its last value. Every scrape would fail alike, so only the first failure is logged.
        if (!countFailing) {
          countFailing = true;
          log.warn({ err }, 'Counting the dead AuditEvents failed; the gauge keeps its last value');
        }
      }
    },
  });
  return {
    recorded: new Counter({
      name: 'monitormed_audit_events_dead_lettered_total',
      help: 'AuditEvents that this process stored in the dead-letter collection after their last attempt failed.',
      registers: [registry],
    }),
  };
}
