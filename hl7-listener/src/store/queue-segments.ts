import { randomBytes } from 'node:crypto';
import type { ObjectId } from 'mongodb';
import { BacklogMessage } from './backlog-message.js';
import type { QueueState, QueuedMessage, WorkMessage } from './message-types.js';

/** Name prefix of the queue segment collections. */
export const QUEUE_SEGMENT_PREFIX = 'hl7_message_queue_';

/**
 * Age after which a listener starts a new segment. A segment is also treated as closed once it is this
 * old plus {@link CLOSE_GRACE_MS}, because its owner never appends to it after that, even if the owner
 * died before writing the `closed` entry.
 */
export const SEGMENT_MAX_AGE_MS = 60_000;

/** Margin for an append that was slow to reach the store, before an unclosed segment counts as closed. */
export const CLOSE_GRACE_MS = 10 * 60_000;

const EPOCH = new Date(0);

/**
 * Entry of a newly queued message, keyed by the message id. It carries only what scheduling needs, because
 * FerretDB's insert cost grows with the document size; processing reads the message from `hl7_messages`.
 */
export interface QueuedEntry {
  _id: ObjectId;
  kind: 'queued';
  patientKey: string;
  receivedAt: Date;
  replayCount?: number;
}

/** A processing claim; its `_id` names message and attempt, so only one listener can insert it. */
export interface ClaimEntry {
  _id: string;
  kind: 'claim';
  messageId: ObjectId;
  attempt: number;
  owner: string;
  claimedAt: Date;
  leaseUntil: Date;
}

/** A failed attempt that gives up its claim until `nextAttemptAt`. */
export interface RetryEntry {
  _id: string;
  kind: 'retry';
  messageId: ObjectId;
  attempt: number;
  nextAttemptAt: Date;
  lastError: string;
}

/** A claim given up at shutdown without an attempt result. */
export interface ReleaseEntry {
  _id: string;
  kind: 'release';
  messageId: ObjectId;
  attempt: number;
}

/** An original-mode AE informed the sender that the message is stored and will be retried. */
export interface PendingAckEntry {
  _id: string;
  kind: 'pending-ack';
  messageId: ObjectId;
  at: Date;
}

/** The outcome is stored, or the entry was cancelled because its message was not stored. */
export interface DoneEntry {
  _id: string;
  kind: 'done';
  messageId: ObjectId;
  at: Date;
}

/** The owner appends no more queued entries. */
export interface ClosedEntry {
  _id: string;
  kind: 'closed';
  at: Date;
}

/** Any document of a queue segment. */
export type SegmentEntry =
  QueuedEntry | ClaimEntry | RetryEntry | ReleaseEntry | PendingAckEntry | DoneEntry | ClosedEntry;

/** Entries about a message, as opposed to the queued entry itself or the closed entry. */
type EventEntry = ClaimEntry | RetryEntry | ReleaseEntry | PendingAckEntry | DoneEntry;

/** Builds the `_id` of an event entry, such as `claim:{messageId}:{attempt}`. */
export function eventId(kind: EventEntry['kind'], messageId: ObjectId, attempt?: number): string {
  return attempt === undefined
    ? `${kind}:${messageId.toHexString()}`
    : `${kind}:${messageId.toHexString()}:${attempt}`;
}

/** Id of the closed entry; there is at most one per segment. */
export const CLOSED_ID = 'closed';

/**
 * Builds a new segment name: the prefix, the UTC creation time to the millisecond (so names sort by
 * age) and a random suffix.
 */
export function newSegmentName(now: number): string {
  const stamp = new Date(now).toISOString().replace(/[-:.TZ]/g, '');
  return `${QUEUE_SEGMENT_PREFIX}${stamp}_${randomBytes(4).toString('hex')}`;
}

/**
 * Reads the creation time from a segment name.
 * @returns Milliseconds since the epoch, or undefined when the name is not a segment name.
 */
export function segmentCreatedAt(name: string): number | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{3})_/.exec(
    name.slice(QUEUE_SEGMENT_PREFIX.length)
  );
  if (match === null) {
    return undefined;
  }
  const [, year, month, day, hour, minute, second, millisecond] = match.map(Number);
  return Date.UTC(year ?? 0, (month ?? 1) - 1, day, hour, minute, second, millisecond);
}

/** A segment as read: its messages with their folded state, and whether it is closed. */
export interface SegmentSnapshot {
  name: string;
  messages: QueueState[];
  closed: boolean;
}

/**
 * Joins the queue state and the work fields of one message into the compact form the worker keeps,
 * described at {@link BacklogMessage}. Where both have a field (`_id`, `patientKey`, `receivedAt`), the
 * value from `state` is kept.
 */
export function queuedMessageOf(state: QueueState, work: WorkMessage): QueuedMessage {
  return new BacklogMessage(state, work);
}

/** Creates the state of a newly queued message. */
export function queueStateOf(segment: string, entry: QueuedEntry): QueueState {
  const { replayCount } = entry;
  return {
    _id: entry._id,
    patientKey: entry.patientKey,
    receivedAt: entry.receivedAt,
    segment,
    status: 'received',
    attempts: 0,
    releasedAttempt: 0,
    leaseUntil: EPOCH,
    nextAttemptAt: entry.receivedAt,
    ...(replayCount === undefined ? {} : { replayCount }),
    done: false,
  };
}

/** Sets `status` and `leaseUntil` from the claim numbers. */
export function settleStatus(message: QueueState): void {
  if (message.attempts > message.releasedAttempt) {
    message.status = 'processing';
  } else {
    message.status = 'received';
    message.leaseUntil = EPOCH;
  }
}

function applyEvent(message: QueueState, event: EventEntry): void {
  switch (event.kind) {
    case 'claim':
      if (event.attempt > message.attempts) {
        message.attempts = event.attempt;
        message.claimedBy = event.owner;
        message.leaseUntil = event.leaseUntil;
      }
      break;
    case 'retry':
      if (event.attempt >= message.releasedAttempt) {
        message.releasedAttempt = event.attempt;
        message.nextAttemptAt = event.nextAttemptAt;
        message.lastError = event.lastError;
      }
      break;
    case 'release':
      message.releasedAttempt = Math.max(message.releasedAttempt, event.attempt);
      break;
    case 'pending-ack':
      message.pendingAckSentAt = event.at;
      break;
    case 'done':
      message.done = true;
      break;
  }
}

/**
 * Folds the entries of one segment into the state of each message it queues. Entries are applied in
 * attempt order, because a segment is read in no particular order.
 */
export function foldSegment(name: string, entries: SegmentEntry[], now = Date.now()): SegmentSnapshot {
  const messages = new Map<string, QueueState>();
  const events: EventEntry[] = [];
  let closedEntry = false;
  for (const entry of entries) {
    if (entry.kind === 'queued') {
      messages.set(entry._id.toHexString(), queueStateOf(name, entry));
    } else if (entry.kind === 'closed') {
      closedEntry = true;
    } else {
      events.push(entry);
    }
  }
  const attemptOf = (event: EventEntry): number => ('attempt' in event ? event.attempt : 0);
  events.sort((a, b) => attemptOf(a) - attemptOf(b));
  for (const event of events) {
    const message = messages.get(event.messageId.toHexString());
    if (message !== undefined) {
      applyEvent(message, event);
    }
  }
  for (const message of messages.values()) {
    settleStatus(message);
  }
  const createdAt = segmentCreatedAt(name);
  const closedByAge = createdAt !== undefined && now - createdAt > SEGMENT_MAX_AGE_MS + CLOSE_GRACE_MS;
  return { name, messages: [...messages.values()], closed: closedEntry || closedByAge };
}

/**
 * Merges a freshly read state into the copy the worker holds. Every field only moves forward (more
 * claims, later releases, done), so a read that started before one of this listener's own writes
 * cannot undo it.
 */
export function mergeQueued(target: QueueState, fresh: QueueState): void {
  if (fresh.attempts > target.attempts) {
    target.attempts = fresh.attempts;
    target.claimedBy = fresh.claimedBy;
    target.leaseUntil = fresh.leaseUntil;
  }
  if (fresh.releasedAttempt > target.releasedAttempt) {
    target.releasedAttempt = fresh.releasedAttempt;
    target.nextAttemptAt = fresh.nextAttemptAt;
    if (fresh.lastError !== undefined) {
      target.lastError = fresh.lastError;
    }
  }
  target.pendingAckSentAt ??= fresh.pendingAckSentAt;
  target.done ||= fresh.done;
  settleStatus(target);
}
