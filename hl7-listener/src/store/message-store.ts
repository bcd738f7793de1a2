import { COLLECTIONS } from '@monitormed/common';
import type { Collection, Db, ObjectId } from 'mongodb';
import type { AckCode } from '../ack/ack-builder.js';
import type { Hl7Issue } from '../hl7/hl7-error.js';

/** Processing state of a stored message. */
export type MessageStatus = 'received' | 'processed' | 'rejected' | 'failed';

/** Link from a message to the batch or multi-message frame it arrived in. */
export interface BatchLink {
  /** Id shared by every message of the frame. */
  id: string;
  /** 0-based position of the message in the frame. */
  index: number;
  /** Number of messages in the frame. */
  size: number;
}

/** A document of the `hl7_messages` collection: the message as received and what became of it. */
export interface Hl7MessageDocument {
  _id?: ObjectId;
  /**
   * Message text decoded with its MSH-18 character set (for an oversized frame, only its first bytes).
   * When the bytes do not match MSH-18 it is a lossy decoding, and `rawBase64` is the exact record.
   */
  raw: string;
  /** The bytes as received, base64-encoded. */
  rawBase64: string;
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
  /** True when `raw` holds only the head of a frame larger than the maximum size. */
  truncated?: boolean;
  status: MessageStatus;
  ackCode?: AckCode;
  /** Reason the message was rejected or failed. */
  reason?: string;
  errors?: Hl7Issue[];
  /** Resources the transaction created or matched, such as `Observation/12`. */
  resourceIds?: string[];
  processedAt?: Date;
}

/** Fields known when a message arrives. */
export type ReceivedMessage = Omit<
  Hl7MessageDocument,
  '_id' | 'status' | 'ackCode' | 'reason' | 'errors' | 'resourceIds' | 'processedAt'
>;

/**
 * Durable record of every received HL7 message in MongoDB (or FerretDB, so only insertOne, updateOne,
 * find and createIndex are used). A message is inserted before processing and updated with its outcome.
 */
export class MessageStore {
  private readonly collection: Collection<Hl7MessageDocument>;

  constructor(db: Db) {
    this.collection = db.collection<Hl7MessageDocument>(COLLECTIONS.hl7Messages);
  }

  /** Creates the indexes used to find messages by control id, by time and by status. */
  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ sendingFacility: 1, controlId: 1 });
    await this.collection.createIndex({ receivedAt: 1 });
    await this.collection.createIndex({ status: 1 });
  }

  /**
   * Inserts a message with status `received`.
   * @returns The document id.
   */
  async insertReceived(message: ReceivedMessage): Promise<ObjectId> {
    const result = await this.collection.insertOne({ ...message, status: 'received' });
    return result.insertedId;
  }

  /** Marks a message processed with AA and the resources written. */
  async markProcessed(id: ObjectId, resourceIds: string[]): Promise<void> {
    await this.collection.updateOne(
      { _id: id },
      { $set: { status: 'processed', ackCode: 'AA', resourceIds, processedAt: new Date() } }
    );
  }

  /**
   * Records why a message was not accepted.
   * @param status - `rejected` for AR, `failed` for AE.
   */
  async markNotAccepted(
    id: ObjectId,
    status: 'rejected' | 'failed',
    ackCode: 'AE' | 'AR',
    errors: Hl7Issue[]
  ): Promise<void> {
    const reason = errors.map((error) => error.text).join('; ');
    await this.collection.updateOne(
      { _id: id },
      { $set: { status, ackCode, reason, errors, processedAt: new Date() } }
    );
  }
}
