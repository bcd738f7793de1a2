import type { Logger } from '@monitormed/common';
import type { Completion, MessageStore, StoredDocument, UnfinishedMessage } from '../store/message-store.js';
import type { AttemptOutcome } from './process-stored.js';
import { retryDelayMs, type BackoffSettings } from './retry-policy.js';

/** A stored message with its id. */
export type StoredMessage = StoredDocument;

/** Options of {@link ProcessingWorker}. */
export interface WorkerOptions extends BackoffSettings {
  store: MessageStore;
  logger: Logger;
  /** Id of this listener instance, written to `claimedBy`. */
  workerId: string;
  concurrency: number;
  leaseMs: number;
  maxAttempts: number;
  maxRetryAgeMs: number;
  pollIntervalMs: number;
  /** How long `close()` waits for running attempts; claims still held after it expire with their lease. */
  closeGraceMs: number;
  /** Runs one processing attempt; it must not throw. */
  attempt: (message: StoredMessage) => Promise<AttemptOutcome>;
  /**
   * Turns a final outcome into the fields to store (ACKs, status) and sends what must be sent; it must
   * not throw. `exhausted` is set when a transient failure used up the retries.
   */
  finish: (message: StoredMessage, outcome: AttemptOutcome, exhausted: boolean) => Promise<Completion>;
  /** Called after the completion is stored, for example to wake an original-mode ACK. */
  onCompleted: (message: StoredMessage, completion: Completion) => void;
  /** Receives the number of unfinished messages seen by each scan (at most the scan limit). */
  onQueueDepth?: (depth: number) => void;
}

/** Unfinished messages read per scan; only the first of each patient can run, so this bounds the work found. */
const SCAN_LIMIT = 500;

/**
 * Processes stored messages in the background, driven only by their state in MongoDB, so a restarted
 * listener (or a second one on the same database) picks up whatever is unfinished.
 *
 * Ordering: messages with the same `patientKey` (PID-3) run one at a time in arrival order, because only
 * the oldest unfinished message of each patient is a candidate. A message waiting for a retry therefore
 * blocks the later messages of its patient, and only of its patient. Results of one patient must not
 * reach FHIR out of order, or an earlier value could overwrite a later correction; other patients'
 * messages proceed meanwhile. A message that goes to the dead-letter store no longer blocks its patient.
 *
 * Claims: a candidate is claimed with one findOneAndUpdate that sets `claimedBy` and `leaseUntil`, so two
 * listeners never run one message at the same time. A listener that dies leaves its claim to expire.
 */
export class ProcessingWorker {
  private readonly options: WorkerOptions;
  /** Patient keys with a message running in this process. */
  private readonly activePatients = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private scanning = false;
  private rescan = false;
  private stopped = false;
  private stopping: Promise<void> | undefined;

  constructor(options: WorkerOptions) {
    this.options = options;
  }

  /** Starts polling; the first scan resumes messages left unfinished by an earlier run. */
  start(): void {
    this.schedule(0);
  }

  /** Scans at once, for example right after a message was stored. */
  wake(): void {
    this.schedule(0);
  }

  /**
   * Stops claiming new messages, waits for the running ones and releases any claim still held, so another
   * listener can take those messages without waiting for the lease. Safe to call twice.
   */
  close(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    let grace: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => {
      grace = setTimeout(() => {
        resolve('timeout');
      }, this.options.closeGraceMs);
    });
    const finished = await Promise.race([Promise.allSettled([...this.running]), graceOver]);
    clearTimeout(grace);
    if (finished === 'timeout') {
      // Releasing now would let another listener start a message this one may still write to FHIR.
      this.options.logger.warn(
        { running: this.running.size, closeGraceMs: this.options.closeGraceMs },
        'Stopped waiting for running messages; their claims expire with their lease'
      );
      return;
    }
    try {
      await this.options.store.releaseClaims(this.options.workerId);
    } catch (err) {
      this.options.logger.warn(
        { err },
        'Failed to release message claims at shutdown; they expire with their lease'
      );
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) {
      return;
    }
    if (this.scanning) {
      this.rescan = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.scan();
    }, delayMs);
  }

  private async scan(): Promise<void> {
    this.scanning = true;
    this.rescan = false;
    try {
      await this.claimCandidates();
    } catch (err) {
      this.options.logger.error({ err }, 'Failed to scan the message store; retrying at the next poll');
    } finally {
      this.scanning = false;
      this.schedule(this.takeRescanRequest() ? 0 : this.options.pollIntervalMs);
    }
  }

  /** Reads and clears the request for another scan made while this one ran. */
  private takeRescanRequest(): boolean {
    const requested = this.rescan;
    this.rescan = false;
    return requested;
  }

  private async claimCandidates(): Promise<void> {
    const { store, concurrency, workerId, leaseMs } = this.options;
    if (this.running.size >= concurrency) {
      return;
    }

    const now = Date.now();
    const seenPatients = new Set<string>();
    const candidates: UnfinishedMessage[] = [];
    const unfinished = await store.listUnfinished(SCAN_LIMIT);
    this.options.onQueueDepth?.(unfinished.length);
    for (const message of unfinished) {
      const first = !seenPatients.has(message.patientKey);
      seenPatients.add(message.patientKey);
      if (!first || this.activePatients.has(message.patientKey)) {
        continue;
      }
      const claimedElsewhere = message.status === 'processing' && message.leaseUntil.getTime() > now;
      if (!claimedElsewhere && message.nextAttemptAt.getTime() <= now) {
        candidates.push(message);
      }
    }

    for (const candidate of candidates) {
      if (this.stopped || this.running.size >= concurrency) {
        return;
      }
      const claimed = await store.claim(candidate, workerId, leaseMs);
      if (claimed === null) {
        continue;
      }
      this.activePatients.add(claimed.patientKey);
      const task = this.run(claimed).finally(() => {
        this.activePatients.delete(claimed.patientKey);
        this.running.delete(task);
        this.wake();
      });
      this.running.add(task);
    }
  }

  private async run(message: StoredMessage): Promise<void> {
    const { store, logger, workerId } = this.options;
    const outcome = await this.options.attempt(message);
    const age = Date.now() - message.receivedAt.getTime();

    try {
      if (outcome.kind === 'transient') {
        const exhausted = message.attempts >= this.options.maxAttempts || age >= this.options.maxRetryAgeMs;
        if (!exhausted) {
          const delayMs = retryDelayMs(message.attempts, this.options);
          logger.warn(
            {
              messageId: message._id.toHexString(),
              controlId: message.controlId,
              attempt: message.attempts,
              delayMs,
            },
            'Message processing failed; retrying later'
          );
          const retryScheduled = await store.scheduleRetry(
            message._id,
            workerId,
            new Date(Date.now() + delayMs),
            outcome.error
          );
          if (!retryScheduled) {
            logger.warn(
              { messageId: message._id.toHexString() },
              'Lost the claim of a message before scheduling its retry'
            );
          }
          return;
        }
        logger.error(
          { messageId: message._id.toHexString(), controlId: message.controlId, attempts: message.attempts },
          'Message out of retries; moving it to the dead-letter store'
        );
      }

      const completion = await this.options.finish(message, outcome, outcome.kind === 'transient');
      const stored = await store.complete(message._id, workerId, completion);
      if (!stored) {
        logger.warn(
          { messageId: message._id.toHexString() },
          'Lost the claim of a message before storing its outcome'
        );
        return;
      }
      logger.info(
        {
          messageId: message._id.toHexString(),
          controlId: message.controlId,
          status: completion.status,
          ackCode: completion.ackCode,
        },
        'Message processing finished'
      );
      this.options.onCompleted(message, completion);
    } catch (err) {
      // The claim stays until its lease expires; then this or another listener retries the message.
      logger.error(
        { err, messageId: message._id.toHexString() },
        'Failed to record the outcome of a message'
      );
    }
  }
}
