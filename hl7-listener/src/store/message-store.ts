import { randomUUID } from 'node:crypto';
import { COLLECTIONS, createLogger, type Logger } from '@monitormed/common';
import { ObjectId, type Collection, type Db, type Filter } from 'mongodb';
import { DUPLICATE_KEY_ERROR, insertEach, isDuplicateKeyError } from './bulk-insert.js';
import { DURABLE_WRITES } from './durable-writes.js';
import { loadWorkMessages, newestInStatuses, readViews } from './message-reads.js';
import { GroupCommitter, type ItemResult } from './group-commit.js';
import {
  UNFINISHED_STATUSES,
  type Completion,
  type InsertResult,
  type MessageStatus,
  type QueueState,
  type QueuedMessage,
  type ReceivedMessage,
  type StoredDocument,
} from './message-types.js';
import { packRecord, unpackRecord, type StoredRecord } from './record-codec.js';
import { WriteLane } from './write-lane.js';
import {
  mergeView,
  outcomeOf,
  workMessageOf,
  type MessageRecord,
  type OutcomeDocument,
} from './message-views.js';
import { DEFAULT_SEGMENT_ENTRIES, QueueLog } from './queue-log.js';

export * from './message-types.js';
export { QUEUE_SEGMENT_PREFIX } from './queue-segments.js';
export type { StoredRecord } from './record-codec.js';

/** Collection of the final outcome of every processed message, keyed by the message id. */
export const OUTCOMES_COLLECTION = 'hl7_message_outcomes';

/** Largest number of received messages stored by one group write. */
const MAX_ACCEPT_GROUP = 500;

/** Options of {@link MessageStore}. */
export interface MessageStoreOptions {
  logger?: Logger;
  /** Queued entries per queue segment before a new one starts. */
  segmentEntries?: number;
}

/** Outcome of one message of a group write of received messages. */
type GroupInsert = { kind: 'inserted'; queued: QueuedMessage } | { kind: 'duplicate-key' };

/** One message finished by the worker, for {@link MessageStore.completeMany}. */
export interface FinishedMessage {
  message: QueuedMessage;
  completion: Completion;
}

/** Builds the duplicate-detection key of a message version. */
export function dedupKeyOf(sendingFacility: string, controlId: string, version: number): string {
  const base = `${sendingFacility}|${controlId}`;
  return version === 1 ? base : `${base}#${version}`;
}

/**
 * Durable record of every received HL7 message and the work queue of the processing worker, on MongoDB
 * or FerretDB 1.24. Messages flow with inserts only: `hl7_messages` gets the received message, the
 * queue segments (see {@link QueueLog}) get claims and completions, and `hl7_message_outcomes` gets the
 * final state. Finding or updating a document by `_id` scans the whole collection on FerretDB 1.24, so
 * the paths a message takes never read or update one of the growing collections. Only duplicates, the
 * dead-letter CLI and tests read them. No transactions, change streams or TTL indexes.
 */
export class MessageStore {
  /** `hl7_messages`, whose documents {@link unpackRecord} turns into records. */
  readonly collection: Collection<StoredRecord>;
  readonly outcomes: Collection<OutcomeDocument>;
  readonly queue: QueueLog;
  private readonly accepting: GroupCommitter<ReceivedMessage, GroupInsert>;
  /** Queue for this store's writes, described at {@link WriteLane}. */
  private readonly lane = new WriteLane();

  constructor(db: Db, options: MessageStoreOptions = {}) {
    const logger = options.logger ?? createLogger('hl7-listener', 'silent');
    this.collection = db.collection<StoredRecord>(COLLECTIONS.hl7Messages, DURABLE_WRITES);
    this.outcomes = db.collection<OutcomeDocument>(OUTCOMES_COLLECTION, DURABLE_WRITES);
    this.queue = new QueueLog(db, logger, options.segmentEntries ?? DEFAULT_SEGMENT_ENTRIES, this.lane);
    this.accepting = new GroupCommitter((messages) => this.writeReceived(messages), MAX_ACCEPT_GROUP);
  }

  /**
   * Creates the indexes. The unique index on `dedupKey` makes two concurrent copies of one message
   * (same MSH-4 and MSH-10) fail to insert twice, even from two listener processes, and serves the
   * lookup of a message's versions. `hl7_messages` has no other index, because on FerretDB 1.24 each one
   * adds to the cost of every insert and serves no query (bench/mongo-insert-probe.ts measures it).
   */
  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ dedupKey: 1 }, { unique: true, name: 'dedup_key_unique' }, undefined);
    await this.outcomes.createIndex({ status: 1, receivedAt: -1 });
  }

  /**
   * Stores a message with status `received` and queues it, or finds the stored message with the same
   * MSH-4 and MSH-10. Messages that arrive while a write is in flight are stored together by the next
   * write (group commit), and each call returns once its own message is committed. Messages without
   * MSH-10 get a random key and are never duplicates.
   */
  async insertReceived(message: ReceivedMessage): Promise<InsertResult> {
    const stored = await this.accepting.submit(message);
    if (stored.kind === 'inserted') {
      return { kind: 'inserted', queued: stored.queued };
    }

    const versions = await this.findVersions(message.sendingFacility ?? '', message.controlId ?? '');
    const same = versions.find((version) => version.sha256 === message.sha256);
    const latest = versions.at(-1);
    if (latest === undefined) {
      // The key exists but no version matched the lookup, which only a concurrent deletion explains.
      throw new Error(
        `Duplicate key reported for control id ${message.controlId ?? ''} but no stored version found`
      );
    }
    return { kind: 'duplicate', existing: same ?? latest, sameBytes: same !== undefined };
  }

  /**
   * Writes one group of received messages: the queue entries first, then the records. In that order a
   * crash between the two leaves queue entries without records instead of stored messages that are
   * never processed. Such an entry is processed although its sender got no ACK and resends the message,
   * which the conditional FHIR writes make harmless. Entries whose record failed are cancelled.
   */
  private async writeReceived(messages: ReceivedMessage[]): Promise<ItemResult<GroupInsert>[]> {
    const records: MessageRecord[] = messages.map((message) => {
      const controlId = message.controlId ?? '';
      const dedupKey =
        controlId === ''
          ? `no-control-id:${randomUUID()}`
          : dedupKeyOf(message.sendingFacility ?? '', controlId, 1);
      return { ...message, _id: new ObjectId(), dedupKey, version: 1 };
    });
    const queued = await this.queue.append(records.map(workMessageOf));
    records.forEach((record, index) => {
      record.queueSegment = queued[index]?.segment ?? '';
    });

    let failed;
    try {
      failed = await this.lane.run('accept', () => insertEach(this.collection, records.map(packRecord)));
    } catch (err) {
      await this.cancelQuietly(queued);
      throw err;
    }
    await this.cancelQuietly(queued.filter((_entry, index) => failed.has(index)));
    return records.map((record, index): ItemResult<GroupInsert> => {
      const error = failed.get(index);
      const entry = queued[index];
      if (error === undefined && entry !== undefined) {
        return { ok: true, value: { kind: 'inserted', queued: entry } };
      }
      if (error?.code === DUPLICATE_KEY_ERROR) {
        return { ok: true, value: { kind: 'duplicate-key' } };
      }
      return {
        ok: false,
        error: new Error(`Failed to store message: ${error?.message ?? 'no queue entry'}`),
      };
    });
  }

  /** Cancels queue entries whose message was not stored; one that stays is processed harmlessly. */
  private async cancelQuietly(entries: QueuedMessage[]): Promise<void> {
    await this.queue.markDone(entries).catch(() => undefined);
  }

  /**
   * Inserts a correction: the next version of a message whose MSH-4 and MSH-10 are already stored.
   * Retries on a concurrent insert of the same version number.
   */
  async insertCorrection(
    message: ReceivedMessage
  ): Promise<{ document: StoredDocument; queued: QueuedMessage }> {
    for (;;) {
      const versions = await this.findVersions(message.sendingFacility ?? '', message.controlId ?? '');
      const version = (versions.at(-1)?.version ?? 0) + 1;
      const record: MessageRecord = {
        ...message,
        _id: new ObjectId(),
        dedupKey: dedupKeyOf(message.sendingFacility ?? '', message.controlId ?? '', version),
        version,
      };
      const [queued] = await this.queue.append([workMessageOf(record)]);
      if (queued === undefined) {
        throw new Error('Queueing a correction returned no entry');
      }
      record.queueSegment = queued.segment;
      try {
        await this.lane.run('accept', () => this.collection.insertOne(packRecord(record)));
        return { document: mergeView(record, null, queued), queued };
      } catch (err) {
        await this.cancelQuietly([queued]);
        if (!isDuplicateKeyError(err)) {
          throw err;
        }
      }
    }
  }

  /**
   * Inserts a message that is rejected at accept time (or a rejected duplicate), outside duplicate
   * detection, so a fixed resend with the same MSH-10 is not mistaken for a duplicate of it.
   */
  async insertRejected(message: ReceivedMessage, completion: Completion): Promise<ObjectId> {
    return this.insertFinished(message, completion, 'rejected');
  }

  /**
   * Inserts a message that gets neither a reply nor processing, such as an ACK (HL7 forbids
   * acknowledging one), so it is still on record with the reason.
   */
  async insertUnanswered(message: ReceivedMessage, reason: string): Promise<ObjectId> {
    return this.insertFinished(message, { status: 'processed', reason, resourceIds: [] }, 'unanswered');
  }

  private async insertFinished(
    message: ReceivedMessage,
    completion: Completion,
    keyPrefix: string
  ): Promise<ObjectId> {
    const record: MessageRecord = {
      ...message,
      _id: new ObjectId(),
      dedupKey: `${keyPrefix}:${randomUUID()}`,
      version: 0,
      attempts: 0,
      ...completion,
      processedAt: new Date(),
    };
    await this.lane.run('accept', () => this.collection.insertOne(packRecord(record)));
    return record._id;
  }

  /** Lists the stored versions of a message, oldest first, each with its outcome but not its queue state. */
  async findVersions(sendingFacility: string, controlId: string): Promise<StoredDocument[]> {
    // MongoDB runs an anchored regular expression with a literal prefix on the dedupKey index.
    const base = dedupKeyOf(sendingFacility, controlId, 1).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const documents = await this.collection.find({ dedupKey: { $regex: `^${base}(#[0-9]+)?$` } }).toArray();
    const records = documents.map(unpackRecord).sort((a, b) => a.version - b.version);
    return this.viewsOf(records, false);
  }

  /**
   * Reads one message with its outcome and, when it is unfinished, its queue state.
   * NOTE: on FerretDB 1.24 this reads every queue segment, so it is meant for the CLI and for tests.
   */
  async findById(id: ObjectId): Promise<StoredDocument | null> {
    const document = await this.collection.findOne({ _id: id });
    return document === null ? null : ((await this.viewsOf([unpackRecord(document)], true))[0] ?? null);
  }

  /**
   * Reads the messages matching a filter on `hl7_messages`, each merged with its outcome and queue state.
   * The filter can use only the top-level fields of {@link StoredRecord}.
   */
  async findViews(filter: Filter<StoredRecord>): Promise<StoredDocument[]> {
    const documents = await this.collection.find(filter).toArray();
    return this.viewsOf(documents.map(unpackRecord), true);
  }

  /**
   * Reads the outcome of a message, the only state a duplicate needs: without one, the message is
   * still queued or being processed.
   */
  async findOutcome(id: ObjectId): Promise<OutcomeDocument | null> {
    return this.outcomes.findOne({ _id: id });
  }

  private async viewsOf(records: MessageRecord[], withQueueState: boolean): Promise<StoredDocument[]> {
    return readViews(records, this.outcomes, withQueueState ? this.queue : undefined);
  }

  /**
   * Reads what processing needs of queued messages another listener stored, or this one before a
   * restart; see {@link loadWorkMessages}.
   * @returns The messages found; a state whose record is missing is left out.
   */
  async loadQueued(states: QueueState[]): Promise<QueuedMessage[]> {
    return loadWorkMessages(this.collection, states);
  }

  /** Claims one message; see {@link QueueLog.claim}. */
  async claim(message: QueuedMessage, owner: string, leaseMs: number): Promise<QueuedMessage | null> {
    return (await this.queue.claim([message], owner, leaseMs)).claimed[0] ?? null;
  }

  /**
   * Stores the outcomes of claimed messages in one insert and marks them done in their segments.
   * The outcome's `_id` is the message id, so of two listeners finishing one message (the first one's
   * lease expired) only the first stores its outcome. A replayed message replaces the outcome of its
   * earlier run.
   * @returns One flag per message: false when another listener had stored the outcome already.
   */
  async completeMany(finished: FinishedMessage[]): Promise<boolean[]> {
    const now = new Date();
    const documents = finished.map(({ message, completion }) => outcomeOf(message, completion, now));
    const failed = await this.lane.run('processing', () => insertEach(this.outcomes, documents));
    const stored = finished.map(() => true);
    for (const [index, error] of failed) {
      const document = documents[index];
      if (error.code !== DUPLICATE_KEY_ERROR || document === undefined) {
        throw new Error(`Failed to store the outcome of a message: ${error.message}`);
      }
      if ((finished[index]?.message.replayCount ?? 0) > 0) {
        await this.lane.run('processing', () =>
          this.outcomes.replaceOne({ _id: document._id }, document, { upsert: true })
        );
      } else {
        stored[index] = false;
      }
    }
    await this.queue.markDone(finished.map(({ message }) => message));
    return stored;
  }

  /** Stores the outcome of one claimed message; see {@link completeMany}. */
  async complete(message: QueuedMessage, completion: Completion): Promise<boolean> {
    return (await this.completeMany([{ message, completion }]))[0] ?? false;
  }

  /**
   * Puts a claimed message back to `received` until `nextAttemptAt`, after a transient failure.
   * @returns False when the claim was lost (the lease expired and another listener took the message).
   */
  async scheduleRetry(message: QueuedMessage, nextAttemptAt: Date, lastError: string): Promise<boolean> {
    if (!(await this.queue.holdsClaim(message))) {
      return false;
    }
    await this.queue.recordRetry(message, nextAttemptAt, lastError);
    return true;
  }

  /** Gives up claims at shutdown, so another listener can take those messages at once. */
  async releaseClaims(messages: QueuedMessage[]): Promise<void> {
    await this.queue.release(messages);
  }

  /** Records that an original-mode AE reported the message as queued for retry. */
  async markPendingAckSent(message: Pick<QueuedMessage, '_id' | 'segment'>): Promise<Date> {
    const at = new Date();
    await this.queue.recordPendingAck(message.segment, message, at);
    return at;
  }

  /**
   * Puts a finished message back in the queue with fresh attempts, keeping its bytes and arrival time.
   * @param statuses - States it may be taken from.
   * @returns False when the message is not in one of those states.
   */
  async requeue(id: ObjectId, statuses: MessageStatus[]): Promise<boolean> {
    const current = await this.findById(id);
    if (
      current === null ||
      !statuses.includes(current.status) ||
      UNFINISHED_STATUSES.includes(current.status)
    ) {
      return false;
    }
    await this.queue.appendStandalone(workMessageOf(current), (current.replayCount ?? 0) + 1);
    return true;
  }

  /**
   * Lists messages in the given states, newest first: those processed by the worker (from their
   * outcomes) and those stored finished at accept time.
   */
  async listByStatus(statuses: MessageStatus[], limit: number): Promise<StoredDocument[]> {
    const outcomes = await this.outcomes
      .find({
        status: { $in: statuses.filter((status) => status !== 'received' && status !== 'processing') },
      })
      .sort({ receivedAt: -1 })
      .limit(limit)
      .toArray();
    const processed =
      outcomes.length === 0 ? [] : await this.findViews({ _id: { $in: outcomes.map((o) => o._id) } });
    const finishedAtAccept = await this.findViews({ status: { $in: statuses } });
    return newestInStatuses([...processed, ...finishedAtAccept], statuses, limit);
  }

  /** Counts the queued messages that are not finished, reading every queue segment. */
  async countUnfinished(): Promise<number> {
    return this.queue.countUnfinished();
  }
}
