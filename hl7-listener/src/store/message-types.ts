import type { ObjectId, WithId } from 'mongodb';
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

/**
 * A message as received and what became of it. The listener stores it in three places, and
 * `MessageStore.findById` merges them into this shape: the received record in `hl7_messages` (written once),
 * the final outcome in `hl7_message_outcomes`, and the processing state of an unfinished message in its
 * queue segment. `raw` is decoded from `rawBase64` on reading, not stored.
 */
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
  /** Queue segment (collection) the message was first queued in; absent for messages stored finished. */
  queueSegment?: string;
  status: MessageStatus;
  /** Processing attempts started so far (claims taken). */
  attempts: number;
  /** Earliest time of the next attempt. */
  nextAttemptAt: Date;
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

/** A message read from the store, with its id. */
export type StoredDocument = WithId<Hl7MessageDocument>;

/** Fields of a message that processing and acknowledgment read; a queue entry carries a copy of them. */
export type WorkFields =
  | 'rawBase64'
  | 'truncated'
  | 'version'
  | 'receivedAt'
  | 'controlId'
  | 'header'
  | 'ackMode'
  | 'applicationAckType'
  | 'channel'
  | 'sendingApplication'
  | 'sendingFacility'
  | 'patientKey';

/** The part of a stored message that processing reads, so it never reads `hl7_messages` again. */
export type WorkMessage = Pick<StoredDocument, '_id' | WorkFields>;

/**
 * The processing state of a queued message, folded from its queue segment. Claims, retries and
 * completion update the object in place, so the worker and the store share one copy per message.
 */
export interface QueueState extends Pick<WorkMessage, '_id' | 'patientKey' | 'receivedAt'> {
  /** Queue segment (collection) that contains the entry and every event about it. */
  segment: string;
  status: 'received' | 'processing';
  /** Claims taken so far; each claim starts one processing attempt. */
  attempts: number;
  /** Highest claim number given up by a retry or a shutdown; equal to `attempts` when not claimed. */
  releasedAttempt: number;
  claimedBy?: string;
  /** End of the current claim; the epoch when unclaimed. */
  leaseUntil: Date;
  nextAttemptAt: Date;
  lastError?: string;
  pendingAckSentAt?: Date;
  replayCount?: number;
  /** True once the outcome is stored (or the entry was cancelled because the message was not stored). */
  done: boolean;
}

/** A queued message with what processing reads of it. */
export type QueuedMessage = QueueState & WorkMessage;

/** Fields known when a message arrives. */
export type ReceivedMessage = Omit<
  Hl7MessageDocument,
  | '_id'
  | 'raw'
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
  | 'queueSegment'
>;

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

/** Result of `MessageStore.insertReceived`. */
export type InsertResult =
  | { kind: 'inserted'; queued: QueuedMessage }
  /** A message with the same MSH-4 and MSH-10 is stored: `sameBytes` is true for an exact resend. */
  | { kind: 'duplicate'; existing: StoredDocument; sameBytes: boolean };
