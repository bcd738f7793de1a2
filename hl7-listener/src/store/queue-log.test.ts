import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '@monitormed/common';
import { ObjectId } from 'mongodb';
import { useTestDatabase } from '../test-support/peers.js';
import type { QueuedMessage, WorkMessage } from './message-types.js';
import { QueueLog } from './queue-log.js';

const logger = createLogger('hl7-listener-test', 'silent');

function workMessage(patientKey: string): WorkMessage {
  return {
    _id: new ObjectId(),
    rawBase64: '',
    version: 1,
    receivedAt: new Date(),
    header: [],
    ackMode: 'immediate',
    channel: 'default',
    patientKey,
  };
}

/** Copies a message, as another listener that read it on its own would have it. */
function copyOf(message: QueuedMessage): QueuedMessage {
  return { ...message };
}

void describe('QueueLog on MongoDB', () => {
  const mongo = useTestDatabase();

  const queueLog = (segmentEntries?: number): QueueLog => {
    return new QueueLog(mongo().db, logger, segmentEntries);
  };

  void it('appends in one open segment', async () => {
    const queue = queueLog();
    const appended = await queue.append([workMessage('P1'), workMessage('P2')]);
    const [first, second] = appended;
    assert.ok(first, 'no first message');
    assert.ok(second, 'no second message');
    assert.equal(first.segment, second.segment);
    assert.ok(queue.ownsSegment(first.segment));
    assert.ok(queue.isAccepting(first._id.toHexString()), 'a new message is still being accepted');

    queue.handOver(first);
    assert.equal(queue.isAccepting(first._id.toHexString()), false);
    const snapshot = await queue.readSegment(first.segment);
    assert.deepEqual(
      snapshot.messages.map((message) => message._id.toHexString()).sort(),
      appended.map((message) => message._id.toHexString()).sort()
    );
    assert.equal(snapshot.closed, false);
  });

  void it('starts a segment when full', async () => {
    const queue = queueLog(2);
    const [first] = await queue.append([workMessage('P1'), workMessage('P2')]);
    const [next] = await queue.append([workMessage('P3')]);
    assert.ok(first, 'no first message');
    assert.ok(next, 'no next message');
    assert.notEqual(next.segment, first.segment);
  });

  void it('lets one listener claim', async () => {
    const queue = queueLog();
    const [message] = await queue.append([workMessage('P1')]);
    assert.ok(message);
    const mine = await queue.claim([copyOf(message)], 'listener-a', 60_000);
    const theirs = await queue.claim([copyOf(message)], 'listener-b', 60_000);
    assert.equal(mine.claimed.length, 1);
    assert.equal(theirs.claimed.length, 0);
    assert.equal(theirs.lost.length, 1);

    const [claimed] = mine.claimed;
    assert.ok(claimed);
    assert.equal(claimed.status, 'processing');
    assert.equal(claimed.attempts, 1);
    assert.ok(await queue.holdsClaim(claimed));
  });

  void it('folds a retry and a later claim', async () => {
    const queue = queueLog();
    const [message] = await queue.append([workMessage('P1')]);
    assert.ok(message);
    const [claimed] = (await queue.claim([message], 'listener-a', 60_000)).claimed;
    assert.ok(claimed);
    const nextAttemptAt = new Date(Date.now() + 30_000);
    await queue.recordRetry(claimed, nextAttemptAt, 'FHIR server unreachable');

    const [read] = (await queue.readSegment(claimed.segment)).messages;
    assert.equal(read?.status, 'received');
    assert.equal(read.attempts, 1);
    assert.equal(read.nextAttemptAt.getTime(), nextAttemptAt.getTime());
    assert.equal(read.lastError, 'FHIR server unreachable');

    const [second] = (await queue.claim([read], 'listener-b', 60_000)).claimed;
    assert.equal(second?.attempts, 2);
    assert.equal(second.claimedBy, 'listener-b');
  });

  void it('detects a claim taken over', async () => {
    const queue = queueLog();
    const [message] = await queue.append([workMessage('P1')]);
    assert.ok(message);
    const [expired] = (await queue.claim([copyOf(message)], 'listener-a', 1)).claimed;
    assert.ok(expired);
    await new Promise((resolve) => setTimeout(resolve, 5));

    // Listener B read the expired claim and takes the message over.
    const [read] = (await queue.readSegment(message.segment)).messages;
    assert.ok(read);
    const [takenOver] = (await queue.claim([read], 'listener-b', 60_000)).claimed;
    assert.equal(takenOver?.attempts, 2);
    assert.equal(await queue.holdsClaim(expired), false);
  });

  void it('skips a message finished by the previous owner', async () => {
    const queue = queueLog();
    const [message] = await queue.append([workMessage('P1')]);
    assert.ok(message);
    const [claimed] = (await queue.claim([copyOf(message)], 'listener-a', 1)).claimed;
    assert.ok(claimed);
    const [read] = (await queue.readSegment(message.segment)).messages;
    assert.ok(read);
    await queue.markDone([claimed]);
    await new Promise((resolve) => setTimeout(resolve, 5));

    const result = await queue.claim([read], 'listener-b', 60_000);
    assert.equal(result.claimed.length, 0);
    assert.equal(result.lost[0]?.done, true);
  });

  void it('drops a finished closed segment', async () => {
    const queue = queueLog();
    const messages = await queue.append([workMessage('P1'), workMessage('P2')]);
    const segment = messages[0]?.segment ?? '';
    await queue.markDone(messages.slice(0, 1));
    assert.ok(queue.retireIfIdle(segment));
    assert.equal(await queue.dropIfFinished(segment), false, 'an unfinished segment was dropped');

    await queue.markDone(messages.slice(1));
    // Closing writes its entry in the background.
    for (let tries = 0; tries < 50 && !(await queue.readSegment(segment)).closed; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(await queue.dropIfFinished(segment), true);
    assert.equal((await queue.listSegments()).includes(segment), false);
  });

  void it('counts unfinished messages', async () => {
    const queue = queueLog();
    const before = await queue.countUnfinished();
    const messages = await queue.append([workMessage('P1'), workMessage('P2'), workMessage('P3')]);
    await queue.markDone(messages.slice(0, 1));
    assert.equal(await queue.countUnfinished(), before + 2);
  });
});
