import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ObjectId } from 'mongodb';
import type { QueueState, QueuedMessage } from '../store/message-types.js';
import { QueueView } from './queue-view.js';

const NOW = 1_800_000_000_000;
const OWNER = 'listener-a';
const OTHER = 'listener-b';

let arrival = 0;

/** Builds an unclaimed queued message of `patientKey` in `segment`, received after the previous one. */
function queuedMessage(patientKey: string, segment: string): QueuedMessage {
  arrival += 1;
  return {
    _id: new ObjectId(),
    patientKey,
    receivedAt: new Date(NOW - 60_000 + arrival),
    segment,
    status: 'received',
    attempts: 0,
    releasedAttempt: 0,
    leaseUntil: new Date(0),
    nextAttemptAt: new Date(0),
    done: false,
    rawBase64: '',
    version: 1,
    header: [],
    ackMode: 'immediate',
    channel: 'test',
  };
}

/** Builds the state a segment read returns after `owner` claimed `message` until `leaseUntil`. */
function claimedState(message: QueuedMessage, owner: string, leaseUntil: number): QueueState {
  return {
    ...message,
    status: 'processing',
    attempts: message.attempts + 1,
    claimedBy: owner,
    leaseUntil: new Date(leaseUntil),
  };
}

void describe('QueueView', () => {
  void it('rereads segments of foreign claims', () => {
    const view = new QueueView();
    const message = queuedMessage('p1', 'seg-1');
    view.add(message);
    assert.deepEqual([...view.segmentsToReread(OWNER, NOW)], []);

    view.merge(claimedState(message, OTHER, NOW + 30_000));
    assert.deepEqual([...view.segmentsToReread(OWNER, NOW)], ['seg-1']);
  });

  void it('skips own, expired and released claims', () => {
    const view = new QueueView();
    const own = queuedMessage('p1', 'seg-own');
    const expired = queuedMessage('p2', 'seg-expired');
    const released = queuedMessage('p3', 'seg-released');
    const live = queuedMessage('p4', 'seg-live');
    for (const message of [own, expired, released, live]) {
      view.add(message);
    }
    view.merge(claimedState(own, OWNER, NOW + 30_000));
    view.merge(claimedState(expired, OTHER, NOW - 1));
    view.merge(claimedState(released, OTHER, NOW + 30_000));
    view.merge(claimedState(live, OTHER, NOW + 30_000));
    // The other listener gives its claim up, as a later read of its retry or release event shows.
    view.merge({ ...released, releasedAttempt: 1, status: 'received', leaseUntil: new Date(0) });
    released.status = 'received';

    assert.deepEqual([...view.segmentsToReread(OWNER, NOW)], ['seg-live']);
  });

  void it('lists a message added claimed', () => {
    const view = new QueueView();
    const message = queuedMessage('p1', 'seg-1');
    view.add({ ...message, ...claimedState(message, OTHER, NOW + 30_000) });

    assert.deepEqual([...view.segmentsToReread(OWNER, NOW)], ['seg-1']);
  });

  void it('forgets the claim when done', () => {
    const view = new QueueView();
    const message = queuedMessage('p1', 'seg-1');
    view.add(message);
    view.merge(claimedState(message, OTHER, NOW + 30_000));

    view.merge({ ...claimedState(message, OTHER, NOW + 30_000), done: true });
    assert.equal(view.size, 0);
    assert.deepEqual([...view.segmentsToReread(OWNER, NOW)], []);
  });

  void it('keeps patient order on removal', () => {
    const view = new QueueView();
    const [first, second, third] = [1, 2, 3].map(() => queuedMessage('p1', 'seg-1'));
    assert.ok(first, 'no first message');
    assert.ok(second, 'no second message');
    assert.ok(third, 'no third message');
    view.add(third);
    view.add(first);
    view.add(second);
    assert.deepEqual(view.runnableHeads(new Set(), NOW), [first]);

    view.remove(second);
    assert.deepEqual(view.runnableHeads(new Set(), NOW), [first]);
    view.remove(first);
    assert.deepEqual(view.runnableHeads(new Set(), NOW), [third]);
    view.remove(third);
    assert.equal(view.hasRunnableHead(new Set(), NOW), false);
  });

  void it('finds a runnable head', () => {
    const view = new QueueView();
    const running = queuedMessage('p1', 'seg-1');
    const waiting = queuedMessage('p2', 'seg-1');
    waiting.nextAttemptAt = new Date(NOW + 5_000);
    view.add(running);
    view.add(waiting);

    assert.equal(view.hasRunnableHead(new Set(['p1']), NOW), false);
    assert.equal(view.hasRunnableHead(new Set(), NOW), true);
    assert.equal(view.hasRunnableHead(new Set(['p1']), NOW + 5_000), true);
  });
});
