import type { ObjectId } from 'mongodb';
import { decodeLenient, decodeMessageBytes } from '../hl7/charset.js';
import type {
  Completion,
  Hl7MessageDocument,
  QueueState,
  QueuedMessage,
  StoredDocument,
  WorkMessage,
} from './message-types.js';

const EPOCH = new Date(0);

/** Fields of a message that change while it is processed; `hl7_messages` contains them only for messages stored finished. */
type StateField =
  | 'status'
  | 'attempts'
  | 'nextAttemptAt'
  | 'claimedBy'
  | 'leaseUntil'
  | 'pendingAckSentAt'
  | 'lastError'
  | 'processedAt'
  | 'deadAt'
  | 'replayCount'
  | 'ackCode'
  | 'reason'
  | 'errors'
  | 'resourceIds'
  | 'applicationAck'
  | 'applicationAckDelivery';

/**
 * A message as received, which `hl7_messages` stores once, packed as a `StoredRecord`. A message
 * rejected or left unanswered at accept time is stored with its final state. An accepted message has no
 * `status`, because its state is in its queue segment and, once finished, in `hl7_message_outcomes`.
 */
export type MessageRecord = Omit<Hl7MessageDocument, StateField | '_id' | 'raw'> &
  Partial<Pick<Hl7MessageDocument, StateField>> & { _id: ObjectId };

/** A document of `hl7_message_outcomes`: the final state of a processed message, keyed by the message id. */
export interface OutcomeDocument extends Completion {
  _id: ObjectId;
  receivedAt: Date;
  processedAt: Date;
  deadAt?: Date;
  attempts: number;
  claimedBy?: string;
  lastError?: string;
  pendingAckSentAt?: Date;
  replayCount?: number;
}

/**
 * Decodes the stored bytes the way they were decoded on arrival: with their MSH-18 character set, or
 * leniently for the head of an oversized frame, which may end inside a character.
 */
export function rawTextOf(record: Pick<MessageRecord, 'rawBase64' | 'truncated'>): string {
  const bytes = Buffer.from(record.rawBase64, 'base64');
  return record.truncated === true ? decodeLenient(bytes) : decodeMessageBytes(bytes).text;
}

/** Copies what processing needs out of a stored record. */
export function workMessageOf(record: MessageRecord | StoredDocument): WorkMessage {
  return {
    _id: record._id,
    rawBase64: record.rawBase64,
    ...(record.truncated === undefined ? {} : { truncated: record.truncated }),
    version: record.version,
    receivedAt: record.receivedAt,
    ...(record.controlId === undefined ? {} : { controlId: record.controlId }),
    header: record.header,
    ackMode: record.ackMode,
    ...(record.applicationAckType === undefined ? {} : { applicationAckType: record.applicationAckType }),
    channel: record.channel,
    ...(record.sendingApplication === undefined ? {} : { sendingApplication: record.sendingApplication }),
    ...(record.sendingFacility === undefined ? {} : { sendingFacility: record.sendingFacility }),
    patientKey: record.patientKey,
  };
}

/** Builds the outcome document of a finished message. */
export function outcomeOf(message: QueuedMessage, completion: Completion, now: Date): OutcomeDocument {
  return {
    ...completion,
    _id: message._id,
    receivedAt: message.receivedAt,
    processedAt: now,
    ...(completion.status === 'dead' ? { deadAt: now } : {}),
    attempts: message.attempts,
    ...(message.claimedBy === undefined ? {} : { claimedBy: message.claimedBy }),
    ...(message.lastError === undefined ? {} : { lastError: message.lastError }),
    ...(message.pendingAckSentAt === undefined ? {} : { pendingAckSentAt: message.pendingAckSentAt }),
    ...(message.replayCount === undefined ? {} : { replayCount: message.replayCount }),
  };
}

/**
 * Merges the three places a message lives in into one document: the record, then its outcome, then the
 * state of an unfinished queue entry, which wins because a replayed message is unfinished again while
 * its earlier outcome is still stored.
 */
export function mergeView(
  record: MessageRecord,
  outcome: OutcomeDocument | null | undefined,
  queued: QueueState | undefined
): StoredDocument {
  const view: StoredDocument = {
    ...record,
    raw: rawTextOf(record),
    status: record.status ?? 'received',
    attempts: record.attempts ?? 0,
    nextAttemptAt: record.nextAttemptAt ?? record.receivedAt,
    leaseUntil: record.leaseUntil ?? EPOCH,
  };
  if (queued !== undefined && !queued.done) {
    view.status = queued.status;
    view.attempts = queued.attempts;
    view.nextAttemptAt = queued.nextAttemptAt;
    view.leaseUntil = queued.leaseUntil;
    for (const [key, value] of [
      ['claimedBy', queued.claimedBy],
      ['lastError', queued.lastError],
      ['pendingAckSentAt', queued.pendingAckSentAt],
      ['replayCount', queued.replayCount],
    ] as const) {
      if (value !== undefined) {
        Object.assign(view, { [key]: value });
      }
    }
    return view;
  }
  if (outcome !== undefined && outcome !== null) {
    // The record's `_id` and `receivedAt` stay; everything else of the outcome is the final state.
    const finalState: Partial<OutcomeDocument> = { ...outcome };
    delete finalState._id;
    delete finalState.receivedAt;
    Object.assign(view, finalState);
  }
  return view;
}
