import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupCommitter, type ItemResult } from './group-commit.js';

/** Creates a write that records each batch and finishes when the test releases it. */
function controlledWrite(): {
  batches: number[][];
  release: () => void;
  write: (items: number[]) => Promise<ItemResult<string>[]>;
} {
  const batches: number[][] = [];
  const waiting: (() => void)[] = [];
  return {
    batches,
    release: () => {
      waiting.shift()?.();
    },
    write: async (items) => {
      batches.push(items);
      await new Promise<void>((resolve) => waiting.push(resolve));
      return items.map((item) =>
        item < 0
          ? { ok: false, error: new Error(`item ${item} rejected`) }
          : { ok: true, value: `stored ${item}` }
      );
    },
  };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

void describe('GroupCommitter', () => {
  void it('groups items that wait for a write', async () => {
    const { batches, release, write } = controlledWrite();
    const committer = new GroupCommitter(write, 100);

    const first = committer.submit(1);
    await nextTurn();
    const later = [committer.submit(2), committer.submit(3), committer.submit(4)];
    assert.deepEqual(batches, [[1]]);
    assert.equal(committer.queued, 3);

    release();
    assert.equal(await first, 'stored 1');
    await nextTurn();
    assert.deepEqual(batches, [[1], [2, 3, 4]]);
    release();
    assert.deepEqual(await Promise.all(later), ['stored 2', 'stored 3', 'stored 4']);
  });

  void it('shares one write within an I/O turn', async () => {
    const { batches, release, write } = controlledWrite();
    const committer = new GroupCommitter(write, 100);
    const results = [committer.submit(1), committer.submit(2)];
    await nextTurn();
    assert.deepEqual(batches, [[1, 2]]);
    release();
    assert.deepEqual(await Promise.all(results), ['stored 1', 'stored 2']);
  });

  void it('splits groups at maxBatch', async () => {
    const { batches, release, write } = controlledWrite();
    const committer = new GroupCommitter(write, 2);
    const results = [1, 2, 3, 4, 5].map((item) => committer.submit(item));
    await nextTurn();
    for (let round = 0; round < 3; round += 1) {
      release();
      await nextTurn();
    }
    await Promise.all(results);
    assert.deepEqual(batches, [[1, 2], [3, 4], [5]]);
  });

  void it('fails only the rejected item', async () => {
    const { release, write } = controlledWrite();
    const committer = new GroupCommitter(write, 100);
    const good = committer.submit(1);
    const bad = committer.submit(-1);
    await nextTurn();
    release();
    assert.equal(await good, 'stored 1');
    await assert.rejects(bad, /item -1 rejected/);
  });

  void it('fails every item of a failed write', async () => {
    let down = true;
    const committer = new GroupCommitter<number, string>(
      (items) =>
        down
          ? Promise.reject(new Error('store down'))
          : Promise.resolve(items.map((item) => ({ ok: true, value: String(item) }))),
      100
    );
    const results = [committer.submit(1), committer.submit(2)];
    for (const result of results) {
      await assert.rejects(result, /store down/);
    }

    // The committer keeps working after a failed write.
    down = false;
    assert.equal(await committer.submit(7), '7');
  });

  void it('rejects an invalid maxBatch', () => {
    assert.throws(() => new GroupCommitter(() => Promise.resolve([]), 0), /Invalid maxBatch 0/);
  });
});
