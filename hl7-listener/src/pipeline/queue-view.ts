import { detachedCopy } from '../hl7/detached-copy.js';
import type { QueueState, QueuedMessage } from '../store/message-types.js';
import {
  CLOSE_GRACE_MS,
  SEGMENT_MAX_AGE_MS,
  mergeQueued,
  segmentCreatedAt,
} from '../store/queue-segments.js';

/** The worker's information about one queue segment. */
export interface SegmentInfo {
  /** Messages of the segment in this view that are not done. */
  pending: number;
  /** True once the segment is closed: its closed entry was read or written, or it is old enough. */
  closed: boolean;
  /** True for a segment this listener appends to. */
  own: boolean;
  /** Last time dropping it was tried, to space out the re-reads a drop needs. */
  lastDropAttemptAt: number;
  /** Start of the last read of the whole segment; 0 when never read. */
  lastReadAt: number;
}

function compareArrival(a: QueueState, b: QueueState): number {
  const byTime = a.receivedAt.getTime() - b.receivedAt.getTime();
  if (byTime !== 0) {
    return byTime;
  }
  // ObjectId hex sorts by creation time, then by a counter that keeps one process's insertion order.
  return a._id.toHexString() < b._id.toHexString() ? -1 : 1;
}

/**
 * Tells whether a segment last read at `lastReadAt` may have entries that read did not see. Its owner
 * appends only while the segment is younger than SEGMENT_MAX_AGE_MS, but an append takes a while to land.
 * So a segment is read until one read started after that age plus APPEND_SETTLE_MS.
 */
export function mayHaveNewEntries(name: string, lastReadAt: number): boolean {
  const createdAt = segmentCreatedAt(name);
  return createdAt === undefined || lastReadAt < createdAt + SEGMENT_MAX_AGE_MS + APPEND_SETTLE_MS;
}

/** Time an append may take to land after its segment was chosen, for {@link mayHaveNewEntries}. */
export const APPEND_SETTLE_MS = 10_000;

/** Tells whether a segment is old enough to count as closed even without its closed entry. */
export function closedByAge(name: string, now: number): boolean {
  const createdAt = segmentCreatedAt(name);
  return createdAt !== undefined && now - createdAt > SEGMENT_MAX_AGE_MS + CLOSE_GRACE_MS;
}

/**
 * The worker's view of the unfinished messages, per patient key in arrival order so only the oldest
 * message of each patient is a candidate, and of the queue segments they are in.
 */
export class QueueView {
  private readonly messages = new Map<string, QueuedMessage>();
  private readonly patients = new Map<string, QueuedMessage[]>();
  readonly segments = new Map<string, SegmentInfo>();
  /**
   * Messages whose state is unknown because another listener claimed them first. They stay blocked, with
   * the later messages of their patient, until their segment is read again.
   */
  private readonly stale = new Map<string, string>();
  /**
   * Messages that held a claim when this view last merged or added them: the only ones
   * {@link segmentsToReread} checks, so a scan costs the number of claims, not the size of the backlog.
   * A claim reaches a held message only through {@link merge}, or from this listener's own claim.
   */
  private readonly claimed = new Map<string, QueuedMessage>();

  get size(): number {
    return this.messages.size;
  }

  /** Returns the held copy of a message, if this view has it. */
  get(id: string): QueuedMessage | undefined {
    return this.messages.get(id);
  }

  /** Returns every message in this view. */
  values(): IterableIterator<QueuedMessage> {
    return this.messages.values();
  }

  private segmentInfo(name: string, own: boolean): SegmentInfo {
    let info = this.segments.get(name);
    if (info === undefined) {
      info = { pending: 0, closed: false, own, lastDropAttemptAt: 0, lastReadAt: 0 };
      this.segments.set(name, info);
    }
    return info;
  }

  /** Adds a message this listener just stored. */
  addOwn(message: QueuedMessage): void {
    this.segmentInfo(message.segment, true);
    this.add(message);
  }

  /** Notes a segment this listener appends to. */
  noteOwnSegment(name: string): void {
    this.segmentInfo(name, true).own = true;
  }

  /** Notes a segment as read: whether it is closed, and that its stale messages are known again. */
  noteSegmentRead(name: string, closed: boolean, readAt: number, own: boolean): void {
    const info = this.segmentInfo(name, own);
    info.own ||= own;
    info.closed ||= closed;
    info.lastReadAt = readAt;
    for (const [id, segment] of [...this.stale]) {
      if (segment === name) {
        this.stale.delete(id);
      }
    }
  }

  /**
   * Merges a freshly read state into the held copy of its message, and removes the message once done.
   * @returns False when this view does not hold the message.
   */
  merge(fresh: QueueState): boolean {
    const held = this.messages.get(fresh._id.toHexString());
    if (held === undefined) {
      return false;
    }
    mergeQueued(held, fresh);
    if (held.done) {
      this.remove(held);
    } else {
      this.noteClaim(held);
    }
    return true;
  }

  /** Adds a message that this view does not hold yet, unless it is done. */
  add(message: QueuedMessage): void {
    const id = message._id.toHexString();
    if (message.done || this.messages.has(id)) {
      return;
    }
    // bson builds the hex id as a chain of string pieces, so the key kept here is a flat copy.
    this.messages.set(detachedCopy(id), message);
    this.noteClaim(message);
    this.segmentInfo(message.segment, false).pending += 1;
    const queue = this.patients.get(message.patientKey) ?? [];
    // Messages mostly arrive in order, so the insertion point is searched from the end.
    let index = queue.length;
    for (let previous = queue[index - 1]; previous !== undefined; previous = queue[index - 1]) {
      if (compareArrival(previous, message) <= 0) {
        break;
      }
      index -= 1;
    }
    queue.splice(index, 0, message);
    this.patients.set(message.patientKey, queue);
  }

  /** Removes a finished message. */
  remove(message: QueuedMessage): void {
    const id = message._id.toHexString();
    const held = this.messages.get(id);
    if (held === undefined) {
      return;
    }
    this.messages.delete(id);
    this.stale.delete(id);
    this.claimed.delete(id);
    const info = this.segments.get(held.segment);
    if (info !== undefined) {
      info.pending -= 1;
    }

    // Only a patient's head runs, so a finished message is nearly always first in its queue.
    const queue = this.patients.get(held.patientKey) ?? [];
    const index = queue[0] === held ? 0 : queue.indexOf(held);
    if (index === 0) {
      queue.shift();
    } else if (index > 0) {
      queue.splice(index, 1);
    }
    if (queue.length === 0) {
      this.patients.delete(held.patientKey);
    }
  }

  /** Tracks a message that carries a claim, for {@link segmentsToReread}. */
  private noteClaim(message: QueuedMessage): void {
    if (message.status === 'processing' && message.claimedBy !== undefined) {
      this.claimed.set(message._id.toHexString(), message);
    }
  }

  /** Blocks a message until its segment is read again. */
  markStale(message: QueuedMessage): void {
    this.stale.set(message._id.toHexString(), message.segment);
  }

  /** Lists the segments with stale messages or with messages another listener has a live claim on. */
  segmentsToReread(owner: string, now: number): Set<string> {
    const names = new Set(this.stale.values());
    for (const [id, message] of this.claimed) {
      if (message.status !== 'processing' || message.leaseUntil.getTime() <= now) {
        // Released, retried or expired: a new claim by another listener arrives through merge().
        this.claimed.delete(id);
      } else if (message.claimedBy !== owner) {
        names.add(message.segment);
      }
    }
    return names;
  }

  /** Tells whether any patient's head could be claimed now; cheaper than {@link runnableHeads}. */
  hasRunnableHead(activePatients: Set<string>, now: number): boolean {
    for (const [patientKey, queue] of this.patients) {
      const head = queue[0];
      if (head !== undefined && !activePatients.has(patientKey) && this.isRunnable(head, now)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Lists the first message of each patient that could be claimed now, oldest first.
   * @param activePatients - Patients with a message running in this listener.
   */
  runnableHeads(activePatients: Set<string>, now: number): QueuedMessage[] {
    const heads: QueuedMessage[] = [];
    for (const [patientKey, queue] of this.patients) {
      const head = queue[0];
      if (head !== undefined && !activePatients.has(patientKey) && this.isRunnable(head, now)) {
        heads.push(head);
      }
    }
    return heads.sort(compareArrival);
  }

  private isRunnable(head: QueuedMessage, now: number): boolean {
    if (this.stale.has(head._id.toHexString())) {
      return false;
    }
    const claimed = head.status === 'processing' && head.leaseUntil.getTime() > now;
    return !claimed && head.nextAttemptAt.getTime() <= now;
  }

  /**
   * Returns the time until the earliest head of an idle patient becomes claimable (a retry falls due or
   * another listener's lease ends), or undefined when none waits.
   */
  nextDueInMs(activePatients: Set<string>, now: number): number | undefined {
    let earliest: number | undefined;
    for (const [patientKey, queue] of this.patients) {
      const head = queue[0];
      if (head === undefined || activePatients.has(patientKey)) {
        continue;
      }
      const leaseEnd = head.status === 'processing' ? head.leaseUntil.getTime() : 0;
      const dueAt = Math.max(head.nextAttemptAt.getTime(), leaseEnd);
      if (dueAt > now) {
        earliest = Math.min(earliest ?? Number.POSITIVE_INFINITY, dueAt - now);
      }
    }
    return earliest;
  }
}
