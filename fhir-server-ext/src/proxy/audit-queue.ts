/**
 * Durable AuditEvent delivery: the proxy adds each AuditEvent to a bull queue in Redis before it sends
 * the response, and a worker writes it to the FHIR server with `PUT AuditEvent/<id>`. The PUT with the
 * AuditEvent's own id makes a retried job write the same resource again, not a second one. A job that
 * fails every attempt goes to the dead-letter store (audit-dead-letters.ts).
 */
import type { AuditEvent, OperationOutcome } from '@medplum/fhirtypes';
import type { Logger } from '@monitormed/common';
import Bull from 'bull';
import type { Registry } from 'prom-client';
import { withTimeout } from '../timeout-error.js';
import {
  registerAuditDeadLetterMetrics,
  type AuditDeadLetterMetrics,
  type AuditDeadLetters,
} from './audit-dead-letters.js';

/** Queue of AuditEvents waiting to be written to the FHIR server. */
export const AUDIT_QUEUE = 'monitormed-audit-event';

/** Options of {@link createAuditQueue}. */
export interface AuditQueueOptions {
  redisUrl: string;
  /** Bull key prefix in Redis. */
  prefix: string;
  fhirBaseUrl: string;
  /** Time limit of one Redis call; a slower add fails the request, so nothing is sent unaudited. */
  queueTimeoutMs: number;
  /** Time limit of one write to the FHIR server. */
  writeTimeoutMs: number;
  /** Start the worker in this process; defaults to true. */
  worker?: boolean;
  /** Attempts per job and the first backoff delay in ms; defaults to 12 attempts from 1 000 ms. */
  retry?: { attempts: number; backoffMs: number };
  /** Store of the AuditEvents whose jobs failed every attempt; without it they stay only in bull. */
  deadLetters?: AuditDeadLetters;
  /** Registry that gets the dead-letter metrics; needs `deadLetters`. */
  metricsRegistry?: Registry;
  log: Logger;
}

/** The audit queue of one fhir-server-ext. */
export interface AuditQueue {
  /**
   * Adds an AuditEvent durably.
   * @throws TimeoutError or a Redis error; the caller must not send the audited data then.
   */
  add(event: AuditEvent): Promise<void>;
  /** The bull queue, for tests and metrics. */
  queue: Bull.Queue<AuditEvent>;
  /** Stops the worker and closes the Redis connections; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Opens the audit queue and, unless disabled, starts its worker.
 * By default jobs retry 12 times with exponential backoff from 1 s (about 68 minutes in all), so an
 * outage of the FHIR server shorter than that loses no AuditEvent. A job that fails its last attempt is
 * copied to the dead-letter store and stays in bull's failed set as well.
 */
export function createAuditQueue(options: AuditQueueOptions): AuditQueue {
  const queue = new Bull<AuditEvent>(AUDIT_QUEUE, options.redisUrl, { prefix: options.prefix });
  const { log, deadLetters } = options;
  const retry = options.retry ?? { attempts: 12, backoffMs: 1_000 };
  const metrics =
    deadLetters === undefined || options.metricsRegistry === undefined
      ? undefined
      : registerAuditDeadLetterMetrics(options.metricsRegistry, deadLetters, log);

  if (options.worker !== false) {
    void queue.process(2, async (job) => {
      await writeAuditEvent(job.data, options);
      log.info({ auditEventId: job.data.id, entities: job.data.entity?.length ?? 0 }, 'Wrote AuditEvent');
    });
    queue.on('failed', (job, err) => {
      void handleFailure(job, err, deadLetters, metrics, log).catch((recordError: unknown) => {
        log.error(
          { err: recordError, jobId: job.id, auditEventId: job.data.id },
          "Storing a dead AuditEvent failed; it stays only in bull's failed set"
        );
      });
    });
  }

  let closing: Promise<void> | undefined;
  return {
    queue,
    async add(event) {
      await withTimeout(
        queue.add(event, {
          jobId: event.id,
          attempts: retry.attempts,
          backoff: { type: 'exponential', delay: retry.backoffMs },
          removeOnComplete: { age: 24 * 3600 },
          removeOnFail: false,
        }),
        options.queueTimeoutMs,
        `Redis did not accept the AuditEvent within ${options.queueTimeoutMs} ms`
      );
    },
    close() {
      closing ??= queue.close();
      return closing;
    },
  };
}

/**
 * Logs a failed attempt, and stores the AuditEvent of a job that failed for good in the dead-letter
 * store. Bull moves a job it retries to the delayed set, so only a final failure leaves it failed.
 */
async function handleFailure(
  job: Bull.Job<AuditEvent>,
  err: Error,
  deadLetters: AuditDeadLetters | undefined,
  metrics: AuditDeadLetterMetrics | undefined,
  log: Logger
): Promise<void> {
  const ids = { jobId: job.id, auditEventId: job.data.id, attempt: job.attemptsMade };
  if (!(await job.isFailed())) {
    log.warn({ err, ...ids }, 'Writing an AuditEvent failed; bull retries it');
    return;
  }
  if (deadLetters === undefined) {
    log.error({ err, ...ids }, "Writing an AuditEvent failed for good; it stays only in bull's failed set");
    return;
  }
  const deadLetterCount = await deadLetters.record(job, err);
  metrics?.recorded.inc();
  log.error(
    { err, ...ids, deadLetterCount },
    'Writing an AuditEvent failed for good; stored it in the dead-letter collection'
  );
}

/** FHIR server and time limit of an AuditEvent write. */
export type AuditWriteTarget = Pick<AuditQueueOptions, 'fhirBaseUrl' | 'writeTimeoutMs'>;

/**
 * Writes one AuditEvent to the FHIR server with `PUT AuditEvent/<id>`, so writing it again stores no copy.
 * @throws Error naming the HTTP status and issue codes when the server rejects it, or a fetch error.
 */
export async function writeAuditEvent(event: AuditEvent, options: AuditWriteTarget): Promise<void> {
  let response = await putAuditEvent(event, options);

  // HAPI enforces referential integrity, so an AuditEvent naming a resource deleted since the read is
  // rejected (HAPI-1096). The event is then written with each entity named by its URL as an identifier.
  if (response.status >= 400 && response.status < 500) {
    response = await putAuditEvent(withEntityIdentifiers(event, options.fhirBaseUrl), options);
  }

  if (!response.ok) {
    // Only the issue codes are kept, because diagnostics may quote resource content into the log.
    let codes = 'no OperationOutcome';
    try {
      const outcome = JSON.parse(await response.text()) as OperationOutcome;
      codes = outcome.issue.map((issue) => issue.code).join(', ');
    } catch {
      // The body is not JSON, so the status alone is reported.
    }
    throw new Error(`PUT AuditEvent/${event.id ?? ''} returned HTTP ${response.status} (${codes}).`);
  }
}

function putAuditEvent(event: AuditEvent, options: AuditWriteTarget): Promise<Response> {
  return fetch(`${options.fhirBaseUrl}/AuditEvent/${event.id ?? ''}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
    body: JSON.stringify(event),
    signal: AbortSignal.timeout(options.writeTimeoutMs),
  });
}

/** Replaces each entity reference with an identifier whose value is the resource's absolute URL (RFC 3986). */
function withEntityIdentifiers(event: AuditEvent, fhirBaseUrl: string): AuditEvent {
  return {
    ...event,
    entity: event.entity?.map((entity) => {
      const reference = entity.what?.reference;
      if (reference === undefined) {
        return entity;
      }
      return {
        ...entity,
        what: { identifier: { system: 'urn:ietf:rfc:3986', value: `${fhirBaseUrl}/${reference}` } },
      };
    }),
  };
}
