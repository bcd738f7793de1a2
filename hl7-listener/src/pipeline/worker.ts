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
  /** Unfinished messages per patient key, in arrival order, from the last scan plus local arrivals. */
  private queues = new Map<string, UnfinishedMessage[]>();
  /** True when the last scan read every unfinished message, so local arrivals can be appended. */
  private queuesComplete = false;
  private lastScanAt = 0;
  private scanRequested = true;
  /** Messages finished while a scan ran, left out of its result because it may predate their update. */
  private finishedDuringScan = new Set<string>();
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
  }

  /** Starts processing; the first scan resumes messages left unfinished by an earlier run. */
  start(): void {
    void this.pump();
  }

  /** Looks for work at once, for example after a message finished. */
  wake(): void {
    void this.pump();
  }

  /**
   * Adds a message this process just stored, so it runs without waiting for the next scan. When the last
   * scan did not read every unfinished message, older messages of the same patient may be missing from
   * the queues, so the message is left for a later scan to keep the patient's order.
   */
  enqueue(message: UnfinishedMessage): void {
    if (this.queuesComplete) {
      const queue = this.queues.get(message.patientKey) ?? [];
      if (!queue.some((queued) => queued._id.equals(message._id))) {
        queue.push(message);
      }
      this.queues.set(message.patientKey, queue);
    }
    void this.pump();
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

  /**
   * Claims and starts runnable messages. The store is scanned on request, at every poll interval while
   * nothing local is runnable, and every ten poll intervals otherwise. A scan sorts every unfinished
   * message, which is costly with a large backlog, so it does not run after each message.
   */
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
        const sinceScanMs = Date.now() - this.lastScanAt;
        const scanIntervalMs = this.options.pollIntervalMs * (this.hasRunnable() ? 10 : 1);
        if (this.scanRequested || sinceScanMs >= scanIntervalMs) {
          await this.scan();
        }
        await this.claimHeads();
      } while (this.takePumpRequest());
    } catch (err) {
      this.scanRequested = true;
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
    this.timer = setTimeout(() => {
      void this.pump();
    }, this.nextWakeDelayMs());
  }

  private async scan(): Promise<void> {
    this.finishedDuringScan = new Set();
    const unfinished = await this.options.store.listUnfinished(SCAN_LIMIT);
    this.options.onQueueDepth?.(unfinished.length);

    const queues = new Map<string, UnfinishedMessage[]>();
    for (const message of unfinished) {
      if (this.finishedDuringScan.has(message._id.toHexString())) {
        continue;
      }
      const queue = queues.get(message.patientKey) ?? [];
      queue.push(message);
      queues.set(message.patientKey, queue);
    }
    this.queues = queues;
    this.queuesComplete = unfinished.length < SCAN_LIMIT;
    this.lastScanAt = Date.now();
    this.scanRequested = false;
  }

  /** Tells whether a queued message could be claimed now by this process. */
  private isRunnable(patientKey: string, head: UnfinishedMessage, now: number): boolean {
    if (this.activePatients.has(patientKey)) {
      return false;
    }
    const claimedElsewhere = head.status === 'processing' && head.leaseUntil.getTime() > now;
    return !claimedElsewhere && head.nextAttemptAt.getTime() <= now;
  }

  private hasRunnable(): boolean {
    const now = Date.now();
    for (const [patientKey, queue] of this.queues) {
      const head = queue[0];
      if (head !== undefined && this.isRunnable(patientKey, head, now)) {
        return true;
      }
    }
    return false;
  }

  /** Delay until the next poll, or sooner when a queued retry falls due before it. */
  private nextWakeDelayMs(): number {
    const now = Date.now();
    let delayMs = this.options.pollIntervalMs;
    for (const [patientKey, queue] of this.queues) {
      const dueAt = queue[0]?.nextAttemptAt.getTime();
      // A running patient wakes the worker when its message finishes, and a due head was just tried.
      if (dueAt !== undefined && dueAt > now && !this.activePatients.has(patientKey)) {
        delayMs = Math.min(delayMs, dueAt - now);
      }
    }
    return delayMs;
  }

  /** Claims the first message of each patient, oldest first, while there are free slots. */
  private async claimHeads(): Promise<void> {
    const { store, concurrency, workerId, leaseMs } = this.options;
    const now = Date.now();
    const heads = [...this.queues.entries()]
      .flatMap(([patientKey, queue]) => (queue[0] === undefined ? [] : [{ patientKey, head: queue[0] }]))
      .filter(({ patientKey, head }) => this.isRunnable(patientKey, head, now))
      .sort((a, b) => a.head.receivedAt.getTime() - b.head.receivedAt.getTime());

    for (const { patientKey, head } of heads) {
      if (this.stopped || this.running.size >= concurrency) {
        return;
      }
      const claimed = await store.claim(head, workerId, leaseMs);
      if (claimed === null) {
        // Another listener took it, or this view is out of date: forget the patient until the next scan.
        this.queues.delete(patientKey);
        this.scanRequested = true;
        continue;
      }
      this.activePatients.add(patientKey);
      const task = this.run(claimed).finally(() => {
        this.activePatients.delete(patientKey);
        this.running.delete(task);
        this.wake();
      });
      this.running.add(task);
    }
  }

  /** Removes a finished message from its patient's queue. */
  private dequeue(message: StoredMessage): void {
    const id = message._id.toHexString();
    this.finishedDuringScan.add(id);
    const queue = (this.queues.get(message.patientKey) ?? []).filter(
      (queued) => queued._id.toHexString() !== id
    );
    if (queue.length === 0) {
      this.queues.delete(message.patientKey);
    } else {
      this.queues.set(message.patientKey, queue);
    }
  }

  /** Updates the queued copy of a message that now waits for a retry. */
  private markRetryQueued(message: StoredMessage, nextAttemptAt: Date): void {
    const head = this.queues.get(message.patientKey)?.[0];
    if (head?._id.equals(message._id) === true) {
      head.status = 'received';
      head.nextAttemptAt = nextAttemptAt;
      head.leaseUntil = new Date(0);
      head.claimSeq = message.claimSeq ?? 0;
    } else {
      this.scanRequested = true;
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
          const nextAttemptAt = new Date(Date.now() + delayMs);
          const retryScheduled = await store.scheduleRetry(
            message._id,
            workerId,
            nextAttemptAt,
            outcome.error
          );
          if (retryScheduled) {
            this.markRetryQueued(message, nextAttemptAt);
          } else {
            this.scanRequested = true;
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
      this.dequeue(message);
      if (!stored) {
        this.scanRequested = true;
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
      this.scanRequested = true;
      logger.error(
        { err, messageId: message._id.toHexString() },
        'Failed to record the outcome of a message'
      );
    }
  }
}
