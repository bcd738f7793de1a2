import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { WriteLane, type WriteKind } from './write-lane.js';

/** Records the order in which writes start and lets the test finish each one. */
function recorder(lane: WriteLane): {
  started: string[];
  finish: (label: string) => void;
  submit: (kind: WriteKind, label: string) => Promise<string>;
} {
  const started: string[] = [];
  const finishers = new Map<string, () => void>();
  return {
    started,
    finish: (label) => {
      const finish = finishers.get(label);
      assert.ok(finish, `write ${label} has not started`);
      finish();
    },
    submit: (kind, label) =>
      lane.run(kind, async () => {
        started.push(label);
        await new Promise<void>((resolve) => finishers.set(label, resolve));
        return label;
      }),
  };
}

/** Waits two turns of the event loop: one for the lane to pass on, one for the write to start. */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 2; turn += 1) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

void describe('WriteLane', () => {
  void it('runs one write at a time', async () => {
    const lane = new WriteLane();
    const { started, finish, submit } = recorder(lane);

    const first = submit('processing', 'p1');
    const second = submit('processing', 'p2');
    await settle();
    assert.deepEqual(started, ['p1']);
    assert.deepEqual(lane.queued, { accept: 0, processing: 1 });

    finish('p1');
    assert.equal(await first, 'p1');
    await settle();
    assert.deepEqual(started, ['p1', 'p2']);
    finish('p2');
    assert.equal(await second, 'p2');
  });

  void it('runs accept writes before processing', async () => {
    const lane = new WriteLane();
    const { started, finish, submit } = recorder(lane);

    const writes = [submit('processing', 'p1'), submit('processing', 'p2'), submit('accept', 'a1')];
    await settle();
    finish('p1');
    await settle();
    assert.deepEqual(started, ['p1', 'a1']);

    finish('a1');
    await settle();
    assert.deepEqual(started, ['p1', 'a1', 'p2']);
    finish('p2');
    assert.deepEqual(await Promise.all(writes), ['p1', 'p2', 'a1']);
  });

  void it('keeps the writes of one accept together', async () => {
    const lane = new WriteLane();
    const { started, finish, submit } = recorder(lane);

    // An accept queues its second write only once its first has returned, as the message store does.
    const accept = (async (): Promise<void> => {
      await submit('accept', 'entries');
      await submit('accept', 'records');
    })();
    await settle();
    const processing = submit('processing', 'claim');
    finish('entries');
    await settle();
    assert.deepEqual(started, ['entries', 'records']);

    finish('records');
    await accept;
    await settle();
    assert.deepEqual(started, ['entries', 'records', 'claim']);
    finish('claim');
    await processing;
  });

  void it('lets processing through a stream of accepts', async () => {
    const lane = new WriteLane(20);
    const stopAt = performance.now() + 1_000;
    let processedAt: number | undefined;

    // Two senders that never pause keep an accept write waiting whenever the lane is passed on.
    const sender = async (): Promise<number> => {
      let writes = 0;
      while (processedAt === undefined && performance.now() < stopAt) {
        await lane.run('accept', () => delay(1));
        writes += 1;
      }
      return writes;
    };
    const senders = [sender(), sender()];
    await delay(5);
    const waitedFrom = performance.now();
    await lane.run('processing', () => {
      processedAt = performance.now();
      return Promise.resolve();
    });

    const accepted = await Promise.all(senders);
    const finishedAt = processedAt ?? Number.POSITIVE_INFINITY;
    assert.ok(finishedAt < stopAt, 'processing waited until the senders stopped');
    assert.ok(finishedAt - waitedFrom < 500, `processing waited ${finishedAt - waitedFrom} ms`);
    assert.ok(accepted.every((writes) => writes > 0));
  });

  void it('passes the lane on after a failed write', async () => {
    const lane = new WriteLane();
    const failed = lane.run('accept', () => Promise.reject(new Error('insert failed')));
    const next = lane.run('processing', () => Promise.resolve('written'));

    await assert.rejects(failed, /insert failed/);
    assert.equal(await next, 'written');
    assert.deepEqual(lane.queued, { accept: 0, processing: 0 });
  });
});
