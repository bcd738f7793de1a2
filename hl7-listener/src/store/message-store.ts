import { randomUUID } from 'node:crypto';
import { COLLECTIONS } from '@monitormed/common';
import { MongoServerError, ObjectId, type Collection, type Db, type Filter, type WithId } from 'mongodb';
import type { AckCode } from '../ack/ack-builder.js';
import type { AckModeSetting } from '../channels/channels.js';
import type { Hl7Issue } from '../hl7/hl7-error.js';

/**
 * Processing state of a stored message.
 * - `received`: stored and waiting for (another) processing attempt.
 * - `processing`: claimed by a listener until `leaseUntil`.
 * - `processed`: written to FHIR (AA).
 * - `rejected` / `failed`: not processed for good (AR / AE), and an ACK reported it to the sender.
 * - `dead`: failed for good with no ACK reporting it to the sender, or out of retries; listed by the dead-letter CLI.
 */
export type MessageStatus = 'received' | 'processing' | 'processed' | 'rejected' | 'failed' | 'dead';

/** States of a message that still has to be processed. */
export const UNFINISHED_STATUSES: MessageStatus[] = ['received', 'processing'];

/** Link from a message to the batch or multi-message frame it arrived in. */
export interface BatchLink {
  /** Id shared by every message of the frame. */
  id: string;
  /** 0-based position of the message in the frame. */
  index: number;
  /** Number of messages in the frame. */
  size: number;
}

/** Delivery route of the application ACK of an enhanced-mode message. */
export type ApplicationAckDelivery = 'connection' | 'return-address' | 'not-requested' | 'undelivered';

/** A document of the `hl7_messages` collection: the message as received and what became of it. */
export interface Hl7MessageDocument {
  _id?: ObjectId;
  /**
   * Message text decoded with its MSH-18 character set (for an oversized frame, only its first bytes).
   * When the bytes do not match MSH-18 it is a lossy decoding, and `rawBase64` is the exact record.
   */
  raw: string;
  /** The bytes as received, base64-encoded; processing and replay start from these. */
  rawBase64: string;
  /** SHA-256 of the bytes, hex, to tell a resent copy from a different message with the same MSH-10. */
  sha256: string;
  /** MSH-18 normalized to a table 0211 value; absent when MSH-18 is empty or unsupported. */
  charset?: string;
  /** Set when the message arrived in a batch or with other messages in one frame. */
  batch?: BatchLink;
  byteLength: number;
  receivedAt: Date;
  peer: { address: string; port: number };
  controlId?: string;
  sendingApplication?: string;
  sendingFacility?: string;
  messageType?: string;
  /** MSH fields by sequence number in standard delimiters, kept to build ACKs after a restart. */
  header: string[];
  /**
   * Unique key: `{MSH-4}|{MSH-10}` for the first version, `{MSH-4}|{MSH-10}#{version}` for corrections,
   * and a random key for messages that take no part in duplicate detection (rejected at accept time).
   */
  dedupKey: string;
  /** 1 for the first message with this MSH-4 and MSH-10, then 2, 3... for corrections. */
  version: number;
  /** PID-3 of the first PID (`id^^^authority`); messages with one key are processed in arrival order. */
  patientKey: string;
  channel: string;
  ackMode: AckModeSetting;
  /** MSH-15 accept acknowledgment type (AL, NE, ER, SU) as received; empty in original mode. */
  acceptAckType?: string;
  /** MSH-16 application acknowledgment type as received. */
  applicationAckType?: string;
  /** True when `raw` holds only the head of a frame larger than the maximum size. */
  truncated?: boolean;
  status: MessageStatus;
  /** Processing attempts started so far. */
  attempts: number;
  /** Earliest time of the next attempt. */
  nextAttemptAt: Date;
  /** Number of claims taken so far; the next claim inserts `{_id}:{claimSeq + 1}` into the claims collection. */
  claimSeq?: number;
  /** Listener instance holding the claim; meaningful only while `leaseUntil` is in the future. */
  claimedBy?: string;
  /** End of the current claim; the epoch when unclaimed. */
  leaseUntil: Date;
  /** Outcome code of processing: AA, AE or AR. */
  ackCode?: AckCode;
  /** ACK sent, or to replay to a resend, in original and immediate mode. */
  ack?: string;
  /** Time an original-mode AE reported the message as stored and queued for retry (`PENDING_ACK_TEXT`). */
  pendingAckSentAt?: Date;
  /** Accept ACK (CA, CE or CR) of an enhanced-mode message, stored even when MSH-15 excludes sending it. */
  acceptAck?: string;
  /** Application ACK of an enhanced-mode message, stored even when MSH-16 excludes sending it. */
  applicationAck?: string;
  applicationAckDelivery?: ApplicationAckDelivery;
  /** Reason the message was rejected, failed or went to the dead-letter store. */
  reason?: string;
  errors?: Hl7Issue[];
  /** Last transient failure, kept while the message waits for a retry. */
  lastError?: string;
  /** Resources the transaction created or matched, such as `Observation/12`. */
  resourceIds?: string[];
  processedAt?: Date;
  deadAt?: Date;
  /** Times the message was put back in the queue from the dead-letter store. */
  replayCount?: number;
}

/** A message document read from the store, with its id. */
export type StoredDocument = WithId<Hl7MessageDocument>;

/** The fields of an unfinished message that scheduling needs. */
export type UnfinishedMessage = Pick<
  StoredDocument,
  '_id' | 'status' | 'patientKey' | 'leaseUntil' | 'nextAttemptAt' | 'claimSeq' | 'receivedAt'
>;

/** Fields known when a message arrives. */
export type ReceivedMessage = Omit<
  Hl7MessageDocument,
  | '_id'
  | 'dedupKey'
  | 'version'
  | 'status'
  | 'attempts'
  | 'nextAttemptAt'
  | 'leaseUntil'
  | 'ackCode'
  | 'reason'
  | 'errors'
  | 'resourceIds'
  | 'processedAt'
>;

/** Result of {@link MessageStore.insertReceived}. */
export type InsertResult =
  | { kind: 'inserted'; document: StoredDocument }
  /** A message with the same MSH-4 and MSH-10 is stored: `sameBytes` is true for an exact resend. */
  | { kind: 'duplicate'; existing: StoredDocument; sameBytes: boolean };

/** Final fields of a message that will not be processed again. */
export interface Completion {
  status: 'processed' | 'rejected' | 'failed' | 'dead';
  ackCode?: AckCode;
  ack?: string;
  acceptAck?: string;
  applicationAck?: string;
  applicationAckDelivery?: ApplicationAckDelivery;
  errors?: Hl7Issue[];
  reason?: string;
  resourceIds?: string[];
}

/**
 * Collection of the unfinished messages' scheduling fields, keyed by the message id. FerretDB 1.24 pushes
 * down only `_id` filters, so a status query on the message collection reads every message ever stored.
 * This collection holds only unfinished ones, and every other read or write here goes by `_id`.
 * NOTE: on FerretDB 1.24 an update by `_id` took about 110 ms with 3,000 messages stored, against 12 ms
 * for a find by `_id` (loaded 2-core machine), and processing ran at about 1.2 messages/s with 10,000
 * stored against 6/s with 200. bench/results/hl7-kill9.md has the runs.
 */
export const QUEUE_COLLECTION = 'hl7_message_queue';

/** Collection of processing claims, one document per claim of a message (see {@link MessageStore.claim}). */
export const CLAIMS_COLLECTION = 'hl7_message_claims';

/** One claim of a message by a listener; its `_id` is `{messageId}:{claimSeq}`. */
interface ClaimDocument {
  _id: string;
  messageId: ObjectId;
  owner: string;
  claimedAt: Date;
}

/** Scheduling fields of an unfinished message in the queue collection; `_id` is the message id. */
type QueueEntry = UnfinishedMessage & { claimedBy?: string };

const EPOCH = new Date(0);
const DUPLICATE_KEY_ERROR = 11000;

function isDuplicateKeyError(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY_ERROR;
}

/** Builds the duplicate-detection key of a message version. */
export function dedupKeyOf(sendingFacility: string, controlId: string, version: number): string {
  const base = `${sendingFacility}|${controlId}`;
  return version === 1 ? base : `${base}#${version}`;
}

/**
 * Durable record of every received HL7 message in MongoDB, and the work queue of the processing worker.
 * It runs on FerretDB 1.24 too, so it uses only insertOne, updateOne, findOneAndUpdate, find with sort and
 * createIndex: no transactions, change streams or TTL indexes.
 */
export class MessageStore {
  readonly collection: Collection<Hl7MessageDocument>;
  private readonly queue: Collection<QueueEntry>;
  private readonly claims: Collection<ClaimDocument>;

  constructor(db: Db) {
    this.collection = db.collection<Hl7MessageDocument>(COLLECTIONS.hl7Messages);
    this.queue = db.collection<QueueEntry>(QUEUE_COLLECTION);
    this.claims = db.collection<ClaimDocument>(CLAIMS_COLLECTION);
  }

  /**
   * Creates the indexes. The unique index on `dedupKey` makes two concurrent copies of one message
   * (same MSH-4 and MSH-10) fail to insert twice, even from two listener processes.
   */
  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ dedupKey: 1 }, { unique: true, name: 'dedup_key_unique' }, undefined);
    await this.collection.createIndex({ sendingFacility: 1, controlId: 1 });
    await this.collection.createIndex({ status: 1, receivedAt: 1 });
    await this.collection.createIndex({ receivedAt: 1 });
  }

  /**
   * Inserts a message with status `received`, or finds the stored message with the same MSH-4 and MSH-10.
   * Messages without MSH-10 get a random key and are never duplicates.
   */
  async insertReceived(message: ReceivedMessage): Promise<InsertResult> {
    const controlId = message.controlId ?? '';
    const dedupKey =
      controlId === ''
        ? `no-control-id:${randomUUID()}`
        : dedupKeyOf(message.sendingFacility ?? '', controlId, 1);
    const document = this.newDocument(message, dedupKey, 1, 'received');
    try {
      return { kind: 'inserted', document: await this.insertQueued(document) };
    } catch (err) {
      if (!isDuplicateKeyError(err)) {
        throw err;
      }
    }

    const versions = await this.findVersions(message.sendingFacility ?? '', controlId);
    const same = versions.find((version) => version.sha256 === message.sha256);
    const latest = versions.at(-1);
    if (latest === undefined) {
      // The key exists but no version matched the lookup, which only a concurrent deletion explains.
      throw new Error(`Duplicate key ${dedupKey} reported but no stored version found`);
    }
    return { kind: 'duplicate', existing: same ?? latest, sameBytes: same !== undefined };
  }

  /**
   * Inserts a correction: the next version of a message whose MSH-4 and MSH-10 are already stored.
   * Retries on a concurrent insert of the same version number.
   */
  async insertCorrection(message: ReceivedMessage): Promise<StoredDocument> {
    for (;;) {
      const versions = await this.findVersions(message.sendingFacility ?? '', message.controlId ?? '');
      const version = (versions.at(-1)?.version ?? 0) + 1;
      const document = this.newDocument(
        message,
        dedupKeyOf(message.sendingFacility ?? '', message.controlId ?? '', version),
        version,
        'received'
      );
      try {
        return await this.insertQueued(document);
      } catch (err) {
        if (!isDuplicateKeyError(err)) {
          throw err;
        }
      }
    }
  }

  /**
   * Inserts the queue entry, then the message. In that order a crash between the two leaves an entry
   * without a message, which the worker drops, instead of a stored message that is never processed.
   * @throws The insert error; a duplicate key error means the message was a duplicate.
   */
  private async insertQueued(document: Hl7MessageDocument): Promise<StoredDocument> {
    const stored = { ...document, _id: new ObjectId() };
    await this.queue.insertOne(queueEntryOf(stored));
    try {
      await this.collection.insertOne(stored);
    } catch (err) {
      await this.queue.deleteOne({ _id: stored._id });
      throw err;
    }
    return stored;
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
    const document = {
      ...this.newDocument(message, `${keyPrefix}:${randomUUID()}`, 0, completion.status),
      ...completion,
      processedAt: new Date(),
    };
    const result = await this.collection.insertOne(document);
    return result.insertedId;
  }

  /** Lists the stored versions of a message, oldest first. */
  async findVersions(sendingFacility: string, controlId: string): Promise<StoredDocument[]> {
    const documents = await this.collection
      .find({ sendingFacility, controlId, version: { $gte: 1 } })
      .sort({ version: 1 })
      .toArray();
    return documents;
  }

  /** Reads one message. */
  async findById(id: ObjectId): Promise<StoredDocument | null> {
    return this.collection.findOne({ _id: id });
  }

  /**
   * Lists the oldest unfinished messages in arrival order (`receivedAt`, then `_id`, whose counter keeps
   * the insertion order of one process within a millisecond). Only the fields the worker schedules by are
   * read; {@link claim} returns the whole document.
   */
  async listUnfinished(limit: number): Promise<UnfinishedMessage[]> {
    return this.queue.find({}).sort({ receivedAt: 1, _id: 1 }).limit(limit).toArray();
  }

  /**
   * Claims an unfinished message for `leaseMs`, so of several listeners trying at once only one gets it.
   * A claim whose lease expired (its listener died) can be taken over.
   *
   * FerretDB 1.24 runs findAndModify as a read followed by a write, so two concurrent findOneAndUpdate
   * calls with the same filter can both succeed (the "claims a message only once" test saw it). The
   * atomic step is therefore the insert of `{messageId}:{claimSeq + 1}` into the claims collection,
   * whose `_id` unique index lets only one insert succeed. The winner then sets `claimedBy` and
   * `leaseUntil`.
   * @param candidate - The message as last read; its `claimSeq` names the claim to take.
   * @returns The claimed document with `attempts` already counting this attempt, or null when taken.
   */
  async claim(candidate: UnfinishedMessage, owner: string, leaseMs: number): Promise<StoredDocument | null> {
    const now = new Date();
    const previousSeq = candidate.claimSeq ?? 0;
    const claimId = `${candidate._id.toHexString()}:${previousSeq + 1}`;
    try {
      await this.claims.insertOne({ _id: claimId, messageId: candidate._id, owner, claimedAt: now });
    } catch (err) {
      if (!isDuplicateKeyError(err)) {
        throw err;
      }
      await this.skipOrphanedClaim(candidate, claimId, leaseMs);
      return null;
    }

    // Reads and writes go by `_id` alone, the only filter FerretDB 1.24 does not run as a full scan.
    const current = await this.collection.findOne({ _id: candidate._id });
    if (current === null || !UNFINISHED_STATUSES.includes(current.status)) {
      // Finished meanwhile, or an entry whose message insert failed: nothing is left to run.
      await this.queue.deleteOne({ _id: candidate._id });
      return null;
    }
    const claimFields = {
      status: 'processing' as const,
      claimedBy: owner,
      leaseUntil: new Date(now.getTime() + leaseMs),
      claimSeq: previousSeq + 1,
    };
    await this.queue.updateOne({ _id: candidate._id }, { $set: claimFields });
    return this.collection.findOneAndUpdate(
      { _id: candidate._id },
      { $set: claimFields, $inc: { attempts: 1 } },
      { returnDocument: 'after' }
    );
  }

  /**
   * Moves past a claim whose listener stopped between inserting it and updating the message: once the
   * claim is older than a lease and the message still has the previous `claimSeq`, the next claim number
   * is used. Without this the message could never be claimed again.
   */
  private async skipOrphanedClaim(
    candidate: UnfinishedMessage,
    claimId: string,
    leaseMs: number
  ): Promise<void> {
    const existing = await this.claims.findOne({ _id: claimId });
    if (existing === null || existing.claimedAt.getTime() > Date.now() - leaseMs) {
      return;
    }
    const current = await this.queue.findOne({ _id: candidate._id });
    if (current !== null && (current.claimSeq ?? 0) === (candidate.claimSeq ?? 0)) {
      const claimSeq = (candidate.claimSeq ?? 0) + 1;
      await this.queue.updateOne({ _id: candidate._id }, { $set: { claimSeq } });
      await this.collection.updateOne({ _id: candidate._id }, { $set: { claimSeq } });
    }
  }

  /**
   * Records the final outcome of a claimed message and releases the claim.
   * @returns False when the claim was lost (the lease expired and another listener took the message).
   */
  async complete(id: ObjectId, owner: string, completion: Completion): Promise<boolean> {
    if (!(await this.holdsClaim(id, owner))) {
      return false;
    }
    const now = new Date();
    await this.collection.updateOne(
      { _id: id },
      {
        $set: {
          ...completion,
          leaseUntil: EPOCH,
          processedAt: now,
          ...(completion.status === 'dead' ? { deadAt: now } : {}),
        },
      }
    );
    await this.queue.deleteOne({ _id: id });
    return true;
  }

  /**
   * Checks that a listener still owns the claim of a message.
   * NOTE: the check and the following write are two operations, so a listener whose lease expired during
   * the check may still write once; the conditional FHIR writes keep a second run from duplicating data.
   */
  private async holdsClaim(id: ObjectId, owner: string): Promise<boolean> {
    const current = await this.collection.findOne({ _id: id }, { projection: { claimedBy: 1, status: 1 } });
    return current?.claimedBy === owner && current.status === 'processing';
  }

  /** Puts a claimed message back to `received` until `nextAttemptAt`, after a transient failure. */
  async scheduleRetry(id: ObjectId, owner: string, nextAttemptAt: Date, lastError: string): Promise<boolean> {
    if (!(await this.holdsClaim(id, owner))) {
      return false;
    }
    const retryFields = { status: 'received' as const, leaseUntil: EPOCH, nextAttemptAt };
    await this.queue.updateOne({ _id: id }, { $set: retryFields });
    await this.collection.updateOne({ _id: id }, { $set: { ...retryFields, lastError } });
    return true;
  }

  /** Releases the claims a listener still holds, so another listener can take them at once. */
  async releaseClaims(owner: string): Promise<void> {
    const claimedEntries = await this.queue.find({ claimedBy: owner, status: 'processing' }).toArray();
    for (const entry of claimedEntries) {
      const released = { status: 'received' as const, leaseUntil: EPOCH };
      await this.queue.updateOne({ _id: entry._id }, { $set: released });
      await this.collection.updateOne({ _id: entry._id }, { $set: released });
    }
  }

  /** Records that an original-mode AE reported the message as queued for retry. */
  async markPendingAckSent(id: ObjectId): Promise<void> {
    await this.collection.updateOne({ _id: id }, { $set: { pendingAckSentAt: new Date() } });
  }

  /** Records the application ACK of an enhanced-mode message and how it was delivered. */
  async recordApplicationAck(
    id: ObjectId,
    applicationAck: string,
    delivery: ApplicationAckDelivery
  ): Promise<void> {
    await this.collection.updateOne(
      { _id: id },
      { $set: { applicationAck, applicationAckDelivery: delivery } }
    );
  }

  /** Moves a finished message to the dead-letter store, for example when its error could not be reported. */
  async markDead(id: ObjectId, reason: string): Promise<void> {
    await this.collection.updateOne({ _id: id }, { $set: { status: 'dead', reason, deadAt: new Date() } });
  }

  /** Records the outcome of a message that was never claimed (used when storing works but nothing else does). */
  async setOutcome(id: ObjectId, completion: Completion): Promise<void> {
    await this.collection.updateOne({ _id: id }, { $set: { ...completion, processedAt: new Date() } });
  }

  /**
   * Puts a finished message back in the queue with fresh attempts, keeping its bytes and arrival time.
   * @param statuses - States it may be taken from.
   * @returns False when the message is not in one of those states.
   */
  async requeue(id: ObjectId, statuses: MessageStatus[]): Promise<boolean> {
    const current = await this.collection.findOne({ _id: id });
    if (current === null || !statuses.includes(current.status)) {
      return false;
    }
    const requeued: StoredDocument = {
      ...current,
      status: 'received',
      attempts: 0,
      nextAttemptAt: new Date(),
      leaseUntil: EPOCH,
    };
    await this.collection.updateOne(
      { _id: id },
      {
        $set: { status: 'received', attempts: 0, nextAttemptAt: requeued.nextAttemptAt, leaseUntil: EPOCH },
        $unset: { deadAt: '', ack: '', applicationAck: '', applicationAckDelivery: '' },
        $inc: { replayCount: 1 },
      }
    );
    try {
      await this.queue.insertOne(queueEntryOf(requeued));
    } catch (err) {
      if (!isDuplicateKeyError(err)) {
        throw err;
      }
    }
    return true;
  }

  /** Lists messages in the given states, newest first. */
  async listByStatus(statuses: MessageStatus[], limit: number): Promise<StoredDocument[]> {
    const filter: Filter<Hl7MessageDocument> = { status: { $in: statuses } };
    const documents = await this.collection.find(filter).sort({ receivedAt: -1 }).limit(limit).toArray();
    return documents;
  }

  private newDocument(
    message: ReceivedMessage,
    dedupKey: string,
    version: number,
    status: MessageStatus
  ): Hl7MessageDocument {
    return {
      ...message,
      dedupKey,
      version,
      status,
      attempts: 0,
      nextAttemptAt: message.receivedAt,
      leaseUntil: EPOCH,
      claimSeq: 0,
    };
  }
}

function queueEntryOf(document: StoredDocument): QueueEntry {
  return {
    _id: document._id,
    status: document.status,
    patientKey: document.patientKey,
    leaseUntil: document.leaseUntil,
    nextAttemptAt: document.nextAttemptAt,
    claimSeq: document.claimSeq ?? 0,
    receivedAt: document.receivedAt,
  };
}
