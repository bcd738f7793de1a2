import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AcceptPriority, REST_FACTOR, YIELDING_BATCH_SIZE } from './accept-priority.js';

/** A start time on a bucket boundary, so the window arithmetic below is exact. */
const T0 = 1_800_000_000_000;

function acceptMany(priority: AcceptPriority, count: number, now: number): void {
  for (let index = 0; index < count; index += 1) {
    priority.noteAccepted(now);
  }
}

void describe('AcceptPriority', () => {
  void it('full concurrency below threshold', () => {
    const priority = new AcceptPriority(100);
    acceptMany(priority, 99, T0);
    assert.equal(priority.allowedConcurrency(4, T0), 4);
  });

  void it('one transaction at threshold', () => {
    const changes: boolean[] = [];
    const priority = new AcceptPriority(100, (yielding) => changes.push(yielding));
    acceptMany(priority, 60, T0);
    acceptMany(priority, 40, T0 + 500);
    assert.equal(priority.allowedConcurrency(4, T0 + 500), 1);
    assert.deepEqual(changes, [true]);
  });

  void it('smaller batches while yielding', () => {
    const priority = new AcceptPriority(100);
    acceptMany(priority, 99, T0);
    assert.equal(priority.allowedBatchSize(10, T0), 10);

    priority.noteAccepted(T0);
    assert.equal(priority.allowedBatchSize(10, T0), YIELDING_BATCH_SIZE);
    assert.equal(priority.allowedBatchSize(2, T0), 2);
  });

  void it('rests after each transaction', () => {
    const priority = new AcceptPriority(10);
    acceptMany(priority, 10, T0);
    priority.noteTransaction(40, T0 + 50);
    const restEnd = T0 + 50 + 40 * REST_FACTOR;

    assert.equal(priority.allowedConcurrency(4, T0 + 60), 0);
    assert.equal(priority.restRemainingMs(T0 + 60), restEnd - (T0 + 60));
    assert.equal(priority.allowedConcurrency(4, restEnd), 1);
    assert.equal(priority.restRemainingMs(restEnd), undefined);
  });

  void it('recovers when the rate falls', () => {
    const changes: boolean[] = [];
    const priority = new AcceptPriority(10, (yielding) => changes.push(yielding));
    acceptMany(priority, 10, T0);
    priority.noteTransaction(500, T0 + 10);
    assert.equal(priority.allowedConcurrency(4, T0 + 20), 0);

    // The bucket of T0 leaves the one-second window at T0 + 1000; the rest ends with the yielding.
    assert.equal(priority.allowedConcurrency(4, T0 + 999), 0);
    assert.equal(priority.allowedConcurrency(4, T0 + 1_000), 4);
    assert.equal(priority.restRemainingMs(T0 + 1_000), undefined);
    assert.deepEqual(changes, [true, false]);
  });

  void it('slides a one-second window', () => {
    const priority = new AcceptPriority(1_000);
    acceptMany(priority, 5, T0);
    acceptMany(priority, 7, T0 + 950);
    assert.equal(priority.acceptedPerSecond(T0 + 950), 12);
    assert.equal(priority.acceptedPerSecond(T0 + 1_000), 7);
    // Counts leave the window a whole bucket (100 ms) at a time.
    assert.equal(priority.acceptedPerSecond(T0 + 1_899), 7);
    assert.equal(priority.acceptedPerSecond(T0 + 1_900), 0);
    // A gap longer than the window empties it.
    acceptMany(priority, 3, T0 + 60_000);
    assert.equal(priority.acceptedPerSecond(T0 + 60_000), 3);
  });

  void it('threshold 0 never yields', () => {
    const priority = new AcceptPriority(0);
    acceptMany(priority, 10_000, T0);
    priority.noteTransaction(1_000, T0);
    assert.equal(priority.allowedConcurrency(4, T0), 4);
    assert.equal(priority.restRemainingMs(T0), undefined);
  });

  void it('rejects invalid thresholds', () => {
    assert.throws(() => new AcceptPriority(-1), RangeError);
    assert.throws(() => new AcceptPriority(1.5), RangeError);
  });
});
