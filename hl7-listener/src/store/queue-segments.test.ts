import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInThisContext } from 'node:vm';
import { ObjectId } from 'mongodb';
import type { WorkMessage } from './message-types.js';
import {
  CLOSE_GRACE_MS,
  CLOSED_ID,
  SEGMENT_MAX_AGE_MS,
  eventId,
  foldSegment,
  mergeQueued,
  newSegmentName,
  queueStateOf,
  queuedMessageOf,
  segmentCreatedAt,
  type SegmentEntry,
} from './queue-segments.js';

const NOW = Date.UTC(2026, 11, 5, 12, 0, 0);
const SEGMENT = newSegmentName(NOW);
const RECEIVED = new Date(NOW - 1_000);

function queued(id: ObjectId): SegmentEntry {
  return { _id: id, kind: 'queued', patientKey: 'P1', receivedAt: RECEIVED };
}

function claim(id: ObjectId, attempt: number, owner: string, leaseUntil: number): SegmentEntry {
  return {
    _id: eventId('claim', id, attempt),
    kind: 'claim',
    messageId: id,
    attempt,
    owner,
    claimedAt: new Date(NOW),
    leaseUntil: new Date(leaseUntil),
  };
}

function retry(id: ObjectId, attempt: number, nextAttemptAt: number): SegmentEntry {
  return {
    _id: eventId('retry', id, attempt),
    kind: 'retry',
    messageId: id,
    attempt,
    nextAttemptAt: new Date(nextAttemptAt),
    lastError: `attempt ${attempt} failed`,
  };
}

void describe('queue segment names', () => {
  void it('round-trips the creation time', () => {
    assert.equal(segmentCreatedAt(SEGMENT), NOW);
    assert.notEqual(newSegmentName(NOW), SEGMENT, 'two names of one millisecond must differ');
  });

  void it('ignores other collection names', () => {
    assert.equal(segmentCreatedAt('hl7_messages'), undefined);
  });
});

void describe('foldSegment', () => {
  void it('folds claims and retries in attempt order', () => {
    const id = new ObjectId();
    // Entries come back from a find in no particular order.
    const entries = [
      retry(id, 2, NOW + 5_000),
      claim(id, 2, 'b', NOW + 60_000),
      queued(id),
      claim(id, 1, 'a', NOW),
    ];
    const [message] = foldSegment(SEGMENT, entries, NOW).messages;
    assert.ok(message);
    assert.equal(message.attempts, 2);
    assert.equal(message.releasedAttempt, 2);
    assert.equal(message.status, 'received');
    assert.equal(message.leaseUntil.getTime(), 0);
    assert.equal(message.nextAttemptAt.getTime(), NOW + 5_000);
    assert.equal(message.lastError, 'attempt 2 failed');
    assert.equal(message.claimedBy, 'b');
  });

  void it('keeps a live claim processing', () => {
    const id = new ObjectId();
    const [message] = foldSegment(SEGMENT, [queued(id), claim(id, 1, 'a', NOW + 60_000)], NOW).messages;
    assert.equal(message?.status, 'processing');
    assert.equal(message.leaseUntil.getTime(), NOW + 60_000);
  });

  void it('marks done and pending ACK entries', () => {
    const id = new ObjectId();
    const entries: SegmentEntry[] = [
      queued(id),
      { _id: eventId('pending-ack', id), kind: 'pending-ack', messageId: id, at: new Date(NOW) },
      { _id: eventId('done', id), kind: 'done', messageId: id, at: new Date(NOW) },
    ];
    const [message] = foldSegment(SEGMENT, entries, NOW).messages;
    assert.equal(message?.done, true);
    assert.equal(message.pendingAckSentAt?.getTime(), NOW);
  });

  void it('ignores events of unknown messages', () => {
    const snapshot = foldSegment(SEGMENT, [claim(new ObjectId(), 1, 'a', NOW)], NOW);
    assert.deepEqual(snapshot.messages, []);
  });

  void it('closes by entry or by age', () => {
    assert.equal(foldSegment(SEGMENT, [], NOW).closed, false);
    assert.equal(
      foldSegment(SEGMENT, [{ _id: CLOSED_ID, kind: 'closed', at: new Date(NOW) }], NOW).closed,
      true
    );
    const old = NOW + SEGMENT_MAX_AGE_MS + CLOSE_GRACE_MS + 1;
    assert.equal(foldSegment(SEGMENT, [], old).closed, true);
  });
});

void describe('mergeQueued', () => {
  void it('moves only forward', () => {
    const id = new ObjectId();
    const held = queueStateOf(SEGMENT, { _id: id, kind: 'queued', patientKey: 'P1', receivedAt: RECEIVED });
    held.attempts = 2;
    held.claimedBy = 'me';
    held.leaseUntil = new Date(NOW + 60_000);
    held.status = 'processing';

    // A read that started before this listener's second claim.
    const stale = foldSegment(SEGMENT, [queued(id), claim(id, 1, 'me', NOW)], NOW).messages[0];
    assert.ok(stale);
    mergeQueued(held, stale);
    assert.equal(held.attempts, 2);
    assert.equal(held.status, 'processing');

    // Another listener claimed it after this listener's lease expired, then finished it.
    const fresh = foldSegment(
      SEGMENT,
      [
        queued(id),
        claim(id, 3, 'other', NOW + 120_000),
        { _id: eventId('done', id), kind: 'done', messageId: id, at: new Date(NOW) },
      ],
      NOW
    ).messages[0];
    assert.ok(fresh);
    mergeQueued(held, fresh);
    assert.equal(held.attempts, 3);
    assert.equal(held.claimedBy, 'other');
    assert.equal(held.done, true);
  });
});

// Lets the test ask V8 whether two objects share a hidden class (map); see queuedMessageOf.
setFlagsFromString('--allow-natives-syntax');
const haveSameMap = runInThisContext('(a, b) => %HaveSameMap(a, b)') as (a: object, b: object) => boolean;

function workMessage(index: number): WorkMessage {
  return {
    _id: new ObjectId(),
    rawBase64: Buffer.from(`MSH|^~\\&|APP|FAC|||20261205||ORU^R01|C${index}|P|2.5.1`).toString('base64'),
    version: 1,
    receivedAt: new Date(NOW + index),
    controlId: `C${index}`,
    header: ['MSH', '|', '^~\\&', 'APP', 'FAC'],
    ackMode: 'immediate',
    channel: 'default',
    sendingFacility: 'FAC',
    patientKey: `P${index}`,
  };
}

void describe('queuedMessageOf', () => {
  void it('keeps the queue state where both objects have a field', () => {
    const work = workMessage(1);
    const state = queueStateOf(SEGMENT, {
      _id: work._id,
      kind: 'queued',
      patientKey: 'P1',
      receivedAt: RECEIVED,
    });

    const message = queuedMessageOf(state, work);

    assert.equal(message.receivedAt, RECEIVED);
    assert.equal(message.controlId, 'C1');
    assert.equal(message.segment, SEGMENT);
    assert.notEqual(message, state);
  });

  void it('gives every queued message the same hidden class', () => {
    const messages = Array.from({ length: 50 }, (_unused, index) => {
      const work = workMessage(index);
      const entry = {
        _id: work._id,
        kind: 'queued' as const,
        patientKey: work.patientKey,
        receivedAt: work.receivedAt,
      };
      return queuedMessageOf(queueStateOf(SEGMENT, entry), work);
    });

    assert.equal(haveSameMap(messages[1] ?? {}, messages[49] ?? {}), true);
  });
});
