import { ObjectId } from 'mongodb';
import { DeadLetterError } from './dead-letter-error.js';
import { MessageStore, type MessageStatus, type StoredDocument } from './store/message-store.js';

/** One line of the dead-letter list: ids, counts and the reason, without message content. */
export interface DeadLetterSummary {
  id: string;
  status: MessageStatus;
  receivedAt: string;
  deadAt: string | undefined;
  controlId: string | undefined;
  sendingApplication: string | undefined;
  sendingFacility: string | undefined;
  messageType: string | undefined;
  ackMode: string;
  attempts: number;
  replayCount: number;
  reason: string | undefined;
}

/** A dead letter in full: the summary plus errors, ACKs and, when asked for, the message text. */
export interface DeadLetterDetail extends DeadLetterSummary {
  errors: StoredDocument['errors'];
  lastError: string | undefined;
  ack: string | undefined;
  acceptAck: string | undefined;
  applicationAck: string | undefined;
  applicationAckDelivery: string | undefined;
  byteLength: number;
  /** Message text; included only on request because it contains patient data. */
  raw?: string;
}

/** States a message can be replayed from: the dead-letter store, and messages failed or rejected for good. */
export const REPLAYABLE_STATUSES: MessageStatus[] = ['dead', 'failed', 'rejected'];

function summarize(document: StoredDocument): DeadLetterSummary {
  return {
    id: document._id.toHexString(),
    status: document.status,
    receivedAt: document.receivedAt.toISOString(),
    deadAt: document.deadAt?.toISOString(),
    controlId: document.controlId,
    sendingApplication: document.sendingApplication,
    sendingFacility: document.sendingFacility,
    messageType: document.messageType,
    ackMode: document.ackMode,
    attempts: document.attempts,
    replayCount: document.replayCount ?? 0,
    reason: document.reason,
  };
}

/**
 * Parses a message id as shown by {@link listDeadLetters}.
 * @throws DeadLetterError when it is not a 24-character hexadecimal ObjectId.
 */
export function parseMessageId(text: string): ObjectId {
  if (!/^[0-9a-fA-F]{24}$/.test(text)) {
    throw new DeadLetterError(
      `Invalid message id "${text}": expected the 24-character hex id that "list" prints.`
    );
  }
  return new ObjectId(text);
}

/**
 * Lists dead letters, newest first.
 * @param statuses - States to list; by default only `dead`.
 * @param limit - Maximum number of messages.
 */
export async function listDeadLetters(
  store: MessageStore,
  statuses: MessageStatus[] = ['dead'],
  limit = 100
): Promise<DeadLetterSummary[]> {
  return (await store.listByStatus(statuses, limit)).map(summarize);
}

/**
 * Reads one message in full.
 * @param includeRaw - Adds the message text, which contains patient data.
 * @throws DeadLetterError when the id is malformed or unknown.
 */
export async function showDeadLetter(
  store: MessageStore,
  id: string,
  includeRaw = false
): Promise<DeadLetterDetail> {
  const document = await store.findById(parseMessageId(id));
  if (document === null) {
    throw new DeadLetterError(`No message with id ${id}; run "list" to see the stored dead letters.`);
  }
  return {
    ...summarize(document),
    errors: document.errors,
    lastError: document.lastError,
    ack: document.ack,
    acceptAck: document.acceptAck,
    applicationAck: document.applicationAck,
    applicationAckDelivery: document.applicationAckDelivery,
    byteLength: document.byteLength,
    ...(includeRaw ? { raw: document.raw } : {}),
  };
}

/**
 * Puts a dead, failed or rejected message back in the processing queue with its stored bytes and a
 * fresh attempt count. A listener on the same database then processes it. Its FHIR writes are
 * conditional on the result identifiers, so resources written by an earlier attempt are matched, not
 * duplicated.
 * @throws DeadLetterError when the id is malformed, unknown or the message is not in a replayable state.
 */
export async function replayDeadLetter(store: MessageStore, id: string): Promise<DeadLetterSummary> {
  const objectId = parseMessageId(id);
  const document = await store.findById(objectId);
  if (document === null) {
    throw new DeadLetterError(`No message with id ${id}; run "list" to see the stored dead letters.`);
  }
  if (document.truncated === true) {
    throw new DeadLetterError(
      `Message ${id} was larger than the maximum size and only its head is stored; it cannot be replayed.`
    );
  }
  if (!(await store.requeue(objectId, REPLAYABLE_STATUSES))) {
    throw new DeadLetterError(
      `Message ${id} is ${document.status}; only ${REPLAYABLE_STATUSES.join(', ')} messages can be replayed.`
    );
  }
  const requeued = await store.findById(objectId);
  return summarize(requeued ?? document);
}

/**
 * Replays every message in the dead-letter store (status `dead`).
 * @returns The requeued messages.
 */
export async function replayAllDeadLetters(
  store: MessageStore,
  limit = 10_000
): Promise<DeadLetterSummary[]> {
  const replayed: DeadLetterSummary[] = [];
  for (const document of await store.listByStatus(['dead'], limit)) {
    if (document.truncated !== true && (await store.requeue(document._id, ['dead']))) {
      replayed.push(summarize(document));
    }
  }
  return replayed;
}
