import type { Logger } from '@monitormed/common';
import type { MessageStore } from '../store/message-store.js';
import type { QueueState } from '../store/message-types.js';
import { segmentCreatedAt } from '../store/queue-segments.js';
import { closedByAge, mayHaveNewEntries, type QueueView } from './queue-view.js';

/** Shortest time between two attempts to drop one segment, each of which reads it whole. */
const DROP_RETRY_MS = 5_000;

/**
 * Age after which a queue entry without a message record is an orphan rather than a message whose accept
 * is still running in another listener. A group write takes milliseconds to seconds. Were a live
 * listener's entry cancelled wrongly, that listener would still process the message from memory.
 */
const ORPHAN_AGE_MS = 2 * 60_000;

/**
 * Interval of a scan that reads every other listener's segment again, as a safety net for entries
 * written after this listener stopped reading it (an append slower than the settle time).
 */
const FULL_SCAN_INTERVAL_MS = 5 * 60_000;

/** Options of {@link SegmentScanner}. */
export interface SegmentScannerOptions {
  store: MessageStore;
  logger: Logger;
  /** Id of this listener instance, as written into its claims. */
  workerId: string;
  /** The worker's view of unfinished messages, which scans add to and drops prune. */
  view: QueueView;
  /** Called when the number of unfinished messages in the view may have changed. */
  reportDepth: () => void;
}

/**
 * Reads the queue segments into the worker's view, cancels orphaned entries and drops the segments
 * whose messages are all done. {@link ProcessingWorker} decides when to scan and describes which
 * segments a scan reads.
 */
export class SegmentScanner {
  private readonly view: QueueView;
  private lastScanAt = 0;
  private lastFullScanAt = 0;
  /** Segments with an entry whose message record was missing, and when that entry becomes an orphan. */
  private readonly orphanChecks = new Map<string, number>();
  private scanRequested = true;
  private dropping = false;
  private stopped = false;

  constructor(private readonly options: SegmentScannerOptions) {
    this.view = options.view;
  }

  /** Asks for a scan at the next opportunity, for example after a claim was lost. */
  request(): void {
    this.scanRequested = true;
  }

  /** Tells whether a scan was requested or `intervalMs` has passed since the last one. */
  isDue(now: number, intervalMs: number): boolean {
    return this.scanRequested || now - this.lastScanAt >= intervalMs;
  }

  /** Stops starting segment drops, at shutdown. */
  stop(): void {
    this.stopped = true;
  }

  /** Reads the segments that are new or may have changed, and drops the finished ones. */
  async scan(): Promise<void> {
    const { store, workerId } = this.options;
    this.scanRequested = false;
    this.lastScanAt = Date.now();
    const names = await store.queue.listSegments();
    const now = Date.now();
    const reread = this.view.segmentsToReread(workerId, now);
    for (const [name, dueAt] of this.orphanChecks) {
      if (dueAt <= now) {
        this.orphanChecks.delete(name);
        reread.add(name);
      }
    }
    const fullScan = now - this.lastFullScanAt >= FULL_SCAN_INTERVAL_MS;
    const unknown: QueueState[] = [];
    if (fullScan) {
      this.lastFullScanAt = now;
    }
    for (const name of names) {
      if (store.queue.ownsSegment(name) && !reread.has(name)) {
        // Its messages reach this view through enqueue(); knowing the segment lets it be dropped.
        this.view.noteOwnSegment(name);
        continue;
      }
      const info = this.view.segments.get(name);
      const foreignOpen =
        info !== undefined && !info.own && !info.closed && mayHaveNewEntries(name, info.lastReadAt);
      // Segments this listener writes hold nothing it does not know, except what a lost claim reveals.
      const safetyRead = fullScan && info?.own !== true;
      if (info !== undefined && !safetyRead && !foreignOpen && !reread.has(name)) {
        continue;
      }
      const readAt = Date.now();
      const snapshot = await store.queue.readSegment(name);
      this.view.noteSegmentRead(name, snapshot.closed, readAt, store.queue.ownsSegment(name));
      for (const state of snapshot.messages) {
        // A message whose accept is still running reaches the worker through enqueue().
        const accepting = store.queue.isAccepting(state._id.toHexString());
        if (!accepting && !this.view.merge(state) && !state.done) {
          unknown.push(state);
        }
      }
    }
    if (unknown.length > 0) {
      await this.addUnknown(unknown);
    }
    // A segment dropped by another listener has nothing left to run here.
    const listed = new Set(names);
    for (const [name, info] of this.view.segments) {
      if (info.pending <= 0 && !listed.has(name) && !info.own) {
        this.view.segments.delete(name);
      }
    }
    this.reportDepth();
    this.dropFinishedSegments();
  }

  /**
   * Reads the stored messages of queue entries this view does not hold yet and adds them. An entry whose
   * message record is missing after {@link ORPHAN_AGE_MS} is cancelled: its accept failed between the
   * queue insert and the record insert, so no ACK accepted it.
   */
  private async addUnknown(states: QueueState[]): Promise<void> {
    const { store, logger } = this.options;
    const loaded = await store.loadQueued(states);
    for (const message of loaded) {
      this.view.add(message);
    }
    const found = new Set(loaded.map((message) => message._id.toHexString()));
    const orphans: QueueState[] = [];
    for (const state of states.filter((candidate) => !found.has(candidate._id.toHexString()))) {
      const orphanAt = state.receivedAt.getTime() + ORPHAN_AGE_MS;
      if (orphanAt < Date.now()) {
        orphans.push(state);
      } else {
        // Read the segment again once the entry is old enough to tell.
        this.orphanChecks.set(
          state.segment,
          Math.min(this.orphanChecks.get(state.segment) ?? orphanAt, orphanAt)
        );
      }
    }
    if (orphans.length > 0) {
      logger.warn(
        { messageIds: orphans.map((state) => state._id.toHexString()) },
        'Cancelling queue entries whose message was never stored'
      );
      await store.queue.markDone(orphans);
    }
  }

  /**
   * Drops, one at a time in the background, the closed segments whose messages this view has all seen
   * finish. An own segment is closed first when no append to it is in flight. The store reads a segment
   * again before dropping it, so a message this view does not know of keeps it.
   */
  dropFinishedSegments(): void {
    if (this.dropping || this.stopped) {
      return;
    }
    const now = Date.now();
    const candidate = [...this.view.segments].find(([name, info]) => {
      if (info.pending > 0 || now - info.lastDropAttemptAt < DROP_RETRY_MS) {
        return false;
      }
      // An own segment is closed early only after DROP_RETRY_MS, so a trickle of messages does not
      // create and drop a collection for each one.
      if (info.own && !info.closed && now - (segmentCreatedAt(name) ?? now) >= DROP_RETRY_MS) {
        info.closed = this.options.store.queue.retireIfIdle(name);
      }
      return info.closed || closedByAge(name, now);
    });
    if (candidate === undefined) {
      return;
    }
    const [name, info] = candidate;
    info.lastDropAttemptAt = now;
    this.dropping = true;
    void this.options.store.queue
      .dropIfFinished(name)
      .then((dropped) => {
        if (dropped) {
          this.view.segments.delete(name);
        }
      })
      .catch((err: unknown) => {
        this.options.logger.warn(
          { err, segment: name },
          'Failed to drop a finished queue segment; retrying later'
        );
      })
      .finally(() => {
        this.dropping = false;
      });
  }

  private reportDepth(): void {
    this.options.reportDepth();
  }
}
