import type { Logger } from '@monitormed/common';
import { MongoServerError, type Collection, type Db } from 'mongodb';
import { DUPLICATE_KEY_ERROR, insertEach, isDuplicateKeyError } from './bulk-insert.js';
import { DURABLE_WRITES } from './durable-writes.js';
import type { QueueState, QueuedMessage, WorkMessage } from './message-types.js';
import { WriteLane, type WriteKind } from './write-lane.js';
import {
  CLOSED_ID,
  QUEUE_SEGMENT_PREFIX,
  SEGMENT_MAX_AGE_MS,
  eventId,
  foldSegment,
  newSegmentName,
  queueStateOf,
  queuedMessageOf,
  settleStatus,
  type ClaimEntry,
  type QueuedEntry,
  type SegmentEntry,
  type SegmentSnapshot,
} from './queue-segments.js';

/** Default number of queued entries after which a listener starts a new segment. */
export const DEFAULT_SEGMENT_ENTRIES = 2_000;

/** Result of {@link QueueLog.claim}. */
export interface ClaimResult<T extends QueueState> {
  claimed: T[];
  /** Messages another listener claimed first or finished meanwhile. */
  lost: T[];
}

/** MongoDB's "namespace not found", returned when dropping a collection that is already gone. */
const NAMESPACE_NOT_FOUND = 26;

function bySegment<T extends QueueState>(messages: T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const message of messages) {
    const group = groups.get(message.segment) ?? [];
    group.push(message);
    groups.set(message.segment, group);
  }
  return groups;
}

function entryOf(message: WorkMessage): QueuedEntry {
  return { _id: message._id, kind: 'queued', patientKey: message.patientKey, receivedAt: message.receivedAt };
}

/**
 * The durable work queue, as an append-only log split into segment collections.
 *
 * FerretDB 1.24 on SQLite finds a document by `_id` with a full table scan, because its `_id` index is
 * built on `_ferretdb_sjson->"_id"` while its queries filter on `_ferretdb_sjson->'$._id'`, and SQLite
 * matches an expression index only to the same expression. It pushes no other filter down to SQL.
 * Updating or deleting one queue document therefore costs time in proportion to the backlog.
 *
 * So nothing here is updated or deleted. A claim, a retry or a completion is a new small document in
 * the segment of its message, and every read folds a whole segment. A segment is dropped once it is
 * closed and every message in it is done, which costs the same at any size. While messages flow, the
 * store only inserts. The same operations are cheap on MongoDB.
 *
 * A listener appends new messages to its own open segment and starts a new one after
 * `segmentEntries` entries or {@link SEGMENT_MAX_AGE_MS}.
 */
export class QueueLog {
  private open: { name: string; createdAt: number; entries: number } | undefined;
  /** Appends in flight per segment; a segment is closed only when none is. */
  private readonly appending = new Map<string, number>();
  /** Segments this listener rotated away from, closed once their appends have finished. */
  private readonly retired = new Set<string>();
  /** Segments this instance created. */
  private readonly created = new Set<string>();
  /**
   * Ids of messages appended here whose accept is still running: the record may yet turn out to be a
   * duplicate, and the connection for an application ACK is not registered yet. A scan must not pick
   * them up; {@link handOver} or {@link markDone} ends this.
   */
  private readonly accepting = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly segmentEntries = DEFAULT_SEGMENT_ENTRIES,
    /** Write queue of the store this log belongs to, described at {@link WriteLane}. */
    private readonly lane = new WriteLane()
  ) {}

  /** Inserts one entry into a segment, through the store's write lane. */
  private writeEntry(kind: WriteKind, name: string, entry: SegmentEntry): Promise<unknown> {
    return this.lane.run(kind, () => this.segment(name).insertOne(entry));
  }

  /** Inserts entries into a segment with {@link insertEach}, through the store's write lane. */
  private writeEntries(
    kind: WriteKind,
    name: string,
    entries: SegmentEntry[]
  ): ReturnType<typeof insertEach> {
    return this.lane.run(kind, () => insertEach(this.segment(name), entries));
  }

  private segment(name: string): Collection<SegmentEntry> {
    return this.db.collection<SegmentEntry>(name, DURABLE_WRITES);
  }

  /** Chooses the open segment for `count` new entries, starting a new one when it is full or old. */
  private openSegmentFor(count: number): string {
    const now = Date.now();
    const open = this.open;
    if (
      open !== undefined &&
      open.entries < this.segmentEntries &&
      now - open.createdAt < SEGMENT_MAX_AGE_MS
    ) {
      open.entries += count;
      return open.name;
    }
    if (open !== undefined) {
      this.retire(open.name);
    }
    const name = newSegmentName(now);
    this.open = { name, createdAt: now, entries: count };
    this.created.add(name);
    return name;
  }

  /** Tells whether this instance created a segment, which means every message appended to it passed through here. */
  ownsSegment(name: string): boolean {
    return this.created.has(name);
  }

  /** Tells whether a message appended here is still being accepted; see {@link accepting}. */
  isAccepting(id: string): boolean {
    return this.accepting.has(id);
  }

  /** Ends the accept of a message appended here, once the worker has taken it over. */
  handOver(message: Pick<QueueState, '_id'>): void {
    this.accepting.delete(message._id.toHexString());
  }

  private retire(name: string): void {
    this.retired.add(name);
    if ((this.appending.get(name) ?? 0) === 0) {
      void this.close(name);
    }
  }

  /** Writes the closed entry of a segment; a failure only delays dropping it until it closes by age. */
  private async close(name: string): Promise<void> {
    this.retired.delete(name);
    try {
      await this.writeEntry('processing', name, { _id: CLOSED_ID, kind: 'closed', at: new Date() });
    } catch (err) {
      if (!isDuplicateKeyError(err)) {
        this.logger.warn({ err, segment: name }, 'Failed to close a queue segment; it closes by age');
      }
    }
  }

  /**
   * Appends queued entries for newly stored messages to the open segment, in one insert.
   * @returns Their queue state, to hand to the worker.
   * @throws The insert error; then entries that were written are cancelled, as far as possible.
   */
  async append(messages: WorkMessage[]): Promise<QueuedMessage[]> {
    const name = this.openSegmentFor(messages.length);
    const entries = messages.map((message) => entryOf(message));
    for (const entry of entries) {
      this.accepting.add(entry._id.toHexString());
    }
    this.appending.set(name, (this.appending.get(name) ?? 0) + 1);
    try {
      const failed = await this.writeEntries('accept', name, entries);
      if (failed.size > 0) {
        const first = [...failed.values()][0];
        throw new Error(
          `Failed to queue ${failed.size} of ${entries.length} messages: ${first?.message ?? ''}`
        );
      }
    } catch (err) {
      await this.markDone(entries.map((entry) => queueStateOf(name, entry))).catch(() => undefined);
      throw err;
    } finally {
      const left = (this.appending.get(name) ?? 1) - 1;
      if (left === 0) {
        this.appending.delete(name);
        if (this.retired.has(name)) {
          void this.close(name);
        }
      } else {
        this.appending.set(name, left);
      }
    }
    return messages.map((message) => queuedMessageOf(queueStateOf(name, entryOf(message)), message));
  }

  /**
   * Queues one message in a segment of its own, closed at once, for a replay from the dead-letter CLI.
   */
  async appendStandalone(message: WorkMessage, replayCount: number): Promise<QueuedMessage> {
    const name = newSegmentName(Date.now());
    const entry: QueuedEntry = { ...entryOf(message), replayCount };
    await this.lane.run('processing', () =>
      this.segment(name).insertMany([entry, { _id: CLOSED_ID, kind: 'closed', at: new Date() }])
    );
    return queuedMessageOf(queueStateOf(name, entry), message);
  }

  /**
   * Claims messages for `leaseMs` by inserting the next claim entry of each: the entry's `_id` names
   * the message and the attempt, so of several listeners only one insert succeeds. A message whose
   * expired claim belonged to another listener is checked for a done entry first, because that
   * listener may have finished it after this one last read the segment.
   */
  async claim<T extends QueueState>(messages: T[], owner: string, leaseMs: number): Promise<ClaimResult<T>> {
    const result: ClaimResult<T> = { claimed: [], lost: [] };
    const claimedAt = new Date();
    const leaseUntil = new Date(claimedAt.getTime() + leaseMs);
    for (const [name, group] of bySegment(messages)) {
      const entries: ClaimEntry[] = group.map((message) => ({
        _id: eventId('claim', message._id, message.attempts + 1),
        kind: 'claim',
        messageId: message._id,
        attempt: message.attempts + 1,
        owner,
        claimedAt,
        leaseUntil,
      }));
      const failed = await this.writeEntries('processing', name, entries);
      for (const [index, message] of group.entries()) {
        const error = failed.get(index);
        if (error !== undefined && error.code !== DUPLICATE_KEY_ERROR) {
          throw new Error(`Failed to claim message ${message._id.toHexString()}: ${error.message}`);
        }
        if (error !== undefined) {
          result.lost.push(message);
          continue;
        }
        const takenOver = message.status === 'processing' && message.claimedBy !== owner;
        message.attempts += 1;
        message.claimedBy = owner;
        message.leaseUntil = leaseUntil;
        settleStatus(message);
        if (takenOver && (await this.segment(name).findOne({ _id: eventId('done', message._id) })) !== null) {
          message.done = true;
          result.lost.push(message);
          continue;
        }
        result.claimed.push(message);
      }
    }
    return result;
  }

  /**
   * Checks that no listener claimed the message after this one, which happens when this listener's
   * lease expired. The check and the write that follows it are two operations, so a listener whose lease
   * expires in between may still write once. The conditional FHIR writes keep that from duplicating data.
   */
  async holdsClaim(message: QueueState): Promise<boolean> {
    const next = await this.segment(message.segment).findOne({
      _id: eventId('claim', message._id, message.attempts + 1),
    });
    return next === null;
  }

  /** Gives up the claim of a failed attempt until `nextAttemptAt`. */
  async recordRetry(message: QueueState, nextAttemptAt: Date, lastError: string): Promise<void> {
    await this.writeEntry('processing', message.segment, {
      _id: eventId('retry', message._id, message.attempts),
      kind: 'retry',
      messageId: message._id,
      attempt: message.attempts,
      nextAttemptAt,
      lastError,
    });
    message.releasedAttempt = message.attempts;
    message.nextAttemptAt = nextAttemptAt;
    message.lastError = lastError;
    settleStatus(message);
  }

  /** Gives up claims at shutdown, so another listener can take the messages at once. */
  async release(messages: QueueState[]): Promise<void> {
    for (const [name, group] of bySegment(messages)) {
      await this.writeEntries(
        'processing',
        name,
        group.map((message) => ({
          _id: eventId('release', message._id, message.attempts),
          kind: 'release' as const,
          messageId: message._id,
          attempt: message.attempts,
        }))
      );
      for (const message of group) {
        message.releasedAttempt = message.attempts;
        settleStatus(message);
      }
    }
  }

  /** Records that an original-mode AE informed the sender that the message will be retried. */
  async recordPendingAck(segment: string, message: Pick<QueueState, '_id'>, at: Date): Promise<void> {
    try {
      await this.writeEntry('processing', segment, {
        _id: eventId('pending-ack', message._id),
        kind: 'pending-ack',
        messageId: message._id,
        at,
      });
    } catch (err) {
      if (!isDuplicateKeyError(err)) {
        throw err;
      }
    }
  }

  /** Marks messages done, in one insert per segment; marking a message twice is harmless. */
  async markDone(messages: QueueState[]): Promise<void> {
    const at = new Date();
    for (const [name, group] of bySegment(messages)) {
      const failed = await this.writeEntries(
        'processing',
        name,
        group.map((message) => ({
          _id: eventId('done', message._id),
          kind: 'done' as const,
          messageId: message._id,
          at,
        }))
      );
      const other = [...failed.values()].find((error) => error.code !== DUPLICATE_KEY_ERROR);
      if (other !== undefined) {
        throw new Error(`Failed to mark messages done in ${name}: ${other.message}`);
      }
      for (const message of group) {
        message.done = true;
        this.accepting.delete(message._id.toHexString());
      }
    }
  }

  /** Lists the segment collections, oldest first. */
  async listSegments(): Promise<string[]> {
    const collections = await this.db.listCollections({}, { nameOnly: true }).toArray();
    return collections
      .map((collection) => collection.name)
      .filter((name) => name.startsWith(QUEUE_SEGMENT_PREFIX))
      .sort();
  }

  /** Reads and folds one whole segment. */
  async readSegment(name: string): Promise<SegmentSnapshot> {
    // The driver types a read of a union schema with one `_id` type; each entry keeps its own.
    const entries = await this.segment(name).find<SegmentEntry>({}).toArray();
    return foldSegment(name, entries);
  }

  /**
   * Starts a new segment when the open one is `name` and no append to it is in flight, so an emptied
   * segment can be dropped without waiting for rotation.
   * @returns True when `name` is closed or being closed.
   */
  retireIfIdle(name: string): boolean {
    if (this.open?.name !== name) {
      return true;
    }
    if ((this.appending.get(name) ?? 0) > 0) {
      return false;
    }
    this.open = undefined;
    this.retire(name);
    return true;
  }

  /**
   * Drops a segment that is closed and whose messages are all done, after reading it again to be sure.
   * @returns True when the segment is gone.
   */
  async dropIfFinished(name: string): Promise<boolean> {
    const snapshot = await this.readSegment(name);
    if (!snapshot.closed || snapshot.messages.some((message) => !message.done)) {
      return false;
    }
    try {
      await this.lane.run('processing', () => this.segment(name).drop());
    } catch (err) {
      if (!(err instanceof MongoServerError && err.code === NAMESPACE_NOT_FOUND)) {
        throw err;
      }
    }
    return true;
  }

  /** Counts the queued messages that are not done, reading every segment. */
  async countUnfinished(): Promise<number> {
    let count = 0;
    for (const name of await this.listSegments()) {
      count += (await this.readSegment(name)).messages.filter((message) => !message.done).length;
    }
    return count;
  }
}
