import type { Logger } from '@monitormed/common';
import type { FinishedMessage, MessageStore } from '../store/message-store.js';
import type { Completion, QueuedMessage } from '../store/message-types.js';
import type { AttemptOutcome } from './process-stored.js';
import type { AcceptPriority } from './accept-priority.js';
import { QueueView } from './queue-view.js';
import { retryDelayMs, type BackoffSettings } from './retry-policy.js';
import { SegmentScanner } from './segment-scan.js';

/** A queued message with its processing state, as the worker hands it to processing. */
export type StoredMessage = QueuedMessage;

/** Options of {@link ProcessingWorker}. */
export interface WorkerOptions extends BackoffSettings {
  store: MessageStore;
  logger: Logger;
  /** Id of this listener instance, written into its claims. */
  workerId: string;
  /** FHIR transactions in flight at once. */
  concurrency: number;
  /** Messages of different patients written in one FHIR transaction. */
  batchSize: number;
  leaseMs: number;
  maxAttempts: number;
  maxRetryAgeMs: number;
  pollIntervalMs: number;
  /** How long `close()` waits for running attempts; claims still held after it expire with their lease. */
  closeGraceMs: number;
  /** Runs one processing attempt of several messages, one outcome each in order; it must not throw. */
  attempt: (messages: StoredMessage[]) => Promise<AttemptOutcome[]>;
  /**
   * Turns a final outcome into the fields to store (ACKs, status) and sends what must be sent; it must
   * not throw. `exhausted` is set when a transient failure used up the retries.
   */
  finish: (message: StoredMessage, outcome: AttemptOutcome, exhausted: boolean) => Promise<Completion>;
  /** Called after the completion is stored, for example to wake an original-mode ACK. */
  onCompleted: (message: StoredMessage, completion: Completion) => void;
  /** Receives the number of unfinished messages in this listener's view. */
  onQueueDepth?: (depth: number) => void;
  /** Slows processing while this listener accepts messages fast. Without it, processing never yields. */
  acceptPriority?: AcceptPriority;
}

/**
 * Processes stored messages in the background, driven by the queue in MongoDB, so a restarted listener
 * (or a second one on the same database) picks up whatever is unfinished.
 *
 * Messages this listener stores are handed over in memory. The queue segments are listed at every poll
 * interval while nothing is runnable, and every ten intervals otherwise. A segment is read when it is new
 * to this listener and while another listener may still append to it. It is read again while another
 * listener has a claim on one of its messages (to learn when that finishes) and after a claim here
 * failed. Other listeners' segments are all read again every five minutes, and this listener's own
 * segments only after a failed claim.
 *
 * Ordering: messages with the same `patientKey` (PID-3) run one at a time in arrival order, because only
 * the oldest unfinished message of each patient is a candidate. A message waiting for a retry therefore
 * blocks the later messages of its patient, and only of its patient. Results of one patient must not
 * reach FHIR out of order, or an earlier value could overwrite a later correction; other patients'
 * messages proceed meanwhile. A message that goes to the dead-letter store no longer blocks its patient.
 *
 * Batches: the heads of up to `batchSize` patients are claimed together and written in one FHIR
 * transaction, and up to `concurrency` transactions run at once.
 */
export class ProcessingWorker {
  private readonly options: WorkerOptions;
  private readonly view = new QueueView();
  private readonly scanner: SegmentScanner;
  /** Patient keys with a message running in this process. */
  private readonly activePatients = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private pumping = false;
  private pumpRequested = false;
  private stopped = false;
  private stopping: Promise<void> | undefined;

  constructor(options: WorkerOptions) {
    this.options = options;
    this.scanner = new SegmentScanner({
      store: options.store,
      logger: options.logger,
      workerId: options.workerId,
      view: this.view,
      reportDepth: () => {
        this.reportDepth();
      },
    });
  }

  /** Starts processing; the first scan resumes messages left unfinished by an earlier run. */
  start(): void {
    void this.pump();
  }

  /** Looks for work at once, for example after a message finished. */
  wake(): void {
    void this.pump();
  }

  /** Adds a message this process just stored, so it runs without waiting for a scan. */
  enqueue(message: QueuedMessage): void {
    this.options.store.queue.handOver(message);
    // An original-mode sender waits for processing before its ACK, so its rate is processing's own.
    if (message.ackMode !== 'original') {
      this.options.acceptPriority?.noteAccepted(Date.now());
    }
    this.view.addOwn(message);
    this.reportDepth();
    void this.pump();
  }

  /** Returns this listener's copy of an unfinished message, whose state the store keeps current. */
  queued(id: string): QueuedMessage | undefined {
    return this.view.get(id);
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
    this.scanner.stop();
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
    const held = [...this.view.values()].filter(
      (message) => message.status === 'processing' && message.claimedBy === this.options.workerId
    );
    try {
      await this.options.store.releaseClaims(held);
    } catch (err) {
      this.options.logger.warn(
        { err },
        'Failed to release message claims at shutdown; they expire with their lease'
      );
    }
  }

  /** Scans when due, then claims and starts runnable messages. */
  private async pump(): Promise<void> {
    if (this.stopped) {
      return;
    }
    if (this.pumping) {
      this.pumpRequested = true;
      return;
    }
    this.pumping = true;
    this.pumpRequested = false;
    clearTimeout(this.timer);
    try {
      do {
        const now = Date.now();
        const idle = !this.view.hasRunnableHead(this.activePatients, now);
        const scanIntervalMs = this.options.pollIntervalMs * (idle ? 1 : 10);
        if (this.scanner.isDue(now, scanIntervalMs)) {
          await this.scanner.scan();
        }
        await this.claimBatches();
      } while (this.takePumpRequest());
    } catch (err) {
      this.scanner.request();
      this.options.logger.error(
        { err },
        'Failed to read or claim stored messages; retrying at the next poll'
      );
    } finally {
      this.pumping = false;
      this.scheduleNextPump();
    }
  }

  /** Reads and clears a request to pump again made while this pump ran. */
  private takePumpRequest(): boolean {
    const requested = this.pumpRequested && !this.stopped;
    this.pumpRequested = false;
    return requested;
  }

  private scheduleNextPump(): void {
    if (this.stopped) {
      return;
    }
    clearTimeout(this.timer);
    const now = Date.now();
    const dueInMs = this.view.nextDueInMs(this.activePatients, now);
    const restMs = this.options.acceptPriority?.restRemainingMs(now);
    this.timer = setTimeout(
      () => {
        void this.pump();
      },
      Math.min(
        this.options.pollIntervalMs,
        dueInMs ?? Number.POSITIVE_INFINITY,
        restMs ?? Number.POSITIVE_INFINITY
      )
    );
  }

  /** Claims the oldest runnable heads and starts them in batches, while transaction slots are free. */
  private async claimBatches(): Promise<void> {
    const { store, concurrency, workerId, leaseMs, acceptPriority } = this.options;
    const configuredBatchSize = this.options.batchSize;
    const now = Date.now();
    const allowed = acceptPriority?.allowedConcurrency(concurrency, now) ?? concurrency;
    const batchSize = acceptPriority?.allowedBatchSize(configuredBatchSize, now) ?? configuredBatchSize;
    const freeSlots = allowed - this.running.size;
    if (this.stopped || freeSlots <= 0) {
      return;
    }
    const heads = this.view.runnableHeads(this.activePatients, now).slice(0, freeSlots * batchSize);
    if (heads.length === 0) {
      return;
    }
    const { claimed, lost } = await store.queue.claim(heads, workerId, leaseMs);
    for (const message of lost) {
      // Another listener took it, or finished it: block it until its segment is read again.
      if (message.done) {
        this.view.remove(message);
      } else {
        this.view.markStale(message);
      }
      this.scanner.request();
    }
    // Use the minimum number of transactions of at most batchSize messages, and at most one per free slot.
    const batchCount = Math.min(freeSlots, Math.ceil(claimed.length / batchSize));
    const batches: QueuedMessage[][] = Array.from({ length: batchCount }, () => []);
    claimed.forEach((message, index) => batches[index % batchCount]?.push(message));
    for (const batch of batches) {
      for (const message of batch) {
        this.activePatients.add(message.patientKey);
      }
      const startedAt = Date.now();
      const task = this.run(batch).finally(() => {
        const endedAt = Date.now();
        acceptPriority?.noteTransaction(endedAt - startedAt, endedAt);
        for (const message of batch) {
          this.activePatients.delete(message.patientKey);
        }
        this.running.delete(task);
        this.wake();
      });
      this.running.add(task);
    }
  }

  /** Schedules the retry of a transiently failed message, or returns false when it is out of retries. */
  private async retryLater(message: QueuedMessage, error: string): Promise<boolean> {
    const { store, logger } = this.options;
    const age = Date.now() - message.receivedAt.getTime();
    if (message.attempts >= this.options.maxAttempts || age >= this.options.maxRetryAgeMs) {
      logger.error(
        { messageId: message._id.toHexString(), controlId: message.controlId, attempts: message.attempts },
        'Message out of retries; moving it to the dead-letter store'
      );
      return false;
    }
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
    if (!(await store.scheduleRetry(message, new Date(Date.now() + delayMs), error))) {
      this.view.markStale(message);
      this.scanner.request();
      logger.warn(
        { messageId: message._id.toHexString() },
        'Lost the claim of a message before scheduling its retry'
      );
    }
    return true;
  }

  private async run(batch: QueuedMessage[]): Promise<void> {
    const { store, logger } = this.options;
    try {
      const outcomes = await this.options.attempt(batch);
      const finished: FinishedMessage[] = [];
      for (const [index, message] of batch.entries()) {
        const outcome: AttemptOutcome = outcomes[index] ?? {
          kind: 'transient',
          error: 'Processing returned no outcome for this message',
        };
        if (outcome.kind === 'transient' && (await this.retryLater(message, outcome.error))) {
          continue;
        }
        const completion = await this.options.finish(message, outcome, outcome.kind === 'transient');
        finished.push({ message, completion });
      }
      if (finished.length === 0) {
        return;
      }

      const stored = await store.completeMany(finished);
      for (const [index, { message, completion }] of finished.entries()) {
        this.view.remove(message);
        if (stored[index] !== true) {
          logger.warn(
            { messageId: message._id.toHexString() },
            'Another listener stored the outcome of this message first'
          );
          continue;
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
      }
      this.reportDepth();
      this.scanner.dropFinishedSegments();
    } catch (err) {
      // The claims stay until their lease expires; then this or another listener retries the messages.
      this.scanner.request();
      logger.error(
        { err, messageIds: batch.map((message) => message._id.toHexString()) },
        'Failed to record the outcome of messages'
      );
    }
  }

  private reportDepth(): void {
    this.options.onQueueDepth?.(this.view.size);
  }
}
