import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkByCount, chunkBySize, periodWindowOf, periodWindowsBetween } from './windows.js';

const rows = Array.from({ length: 10 }, (_, index) => index);

void describe('window chunkers', () => {
  void it('period keys match pandas', () => {
    const time = new Date('2026-03-14T09:41:00Z');
    assert.equal(periodWindowOf(time, 'hour').key, '2026-03-14 09:00');
    assert.equal(periodWindowOf(time, 'day').key, '2026-03-14');
    assert.equal(periodWindowOf(time, 'week').key, '2026-03-09/2026-03-15');
    assert.equal(periodWindowOf(time, 'month').key, '2026-03');
  });

  void it('week of a Sunday ends that day', () => {
    const window = periodWindowOf(new Date('2026-03-15T23:59:59Z'), 'week');
    assert.equal(window.key, '2026-03-09/2026-03-15');
    assert.equal(window.end.toISOString(), '2026-03-16T00:00:00.000Z');
  });

  void it('month ranges cross the year', () => {
    const window = periodWindowOf(new Date('2025-12-31T23:00:00Z'), 'month');
    assert.equal(window.start.toISOString(), '2025-12-01T00:00:00.000Z');
    assert.equal(window.end.toISOString(), '2026-01-01T00:00:00.000Z');
  });

  void it('lists windows of a range', () => {
    const windows = periodWindowsBetween(
      new Date('2026-03-30T12:00:00Z'),
      new Date('2026-04-02T00:00:00Z'),
      'day'
    );
    assert.deepEqual(
      windows.map((window) => window.key),
      ['2026-03-30', '2026-03-31', '2026-04-01']
    );
  });

  void it('size chunks keep, drop or append', () => {
    assert.deepEqual(
      chunkBySize(rows, 4).map((chunk) => chunk.key),
      ['[0:3]', '[4:7]', '[8:9]']
    );
    assert.deepEqual(
      chunkBySize(rows, 4, 'drop').map((chunk) => chunk.key),
      ['[0:3]', '[4:7]']
    );
    const appended = chunkBySize(rows, 4, 'append');
    assert.deepEqual(
      appended.map((chunk) => chunk.key),
      ['[0:3]', '[4:9]']
    );
    assert.deepEqual(appended[1]?.rows, [4, 5, 6, 7, 8, 9]);
  });

  void it('count chunks use floor size', () => {
    // 10 rows in 3 chunks: size 3, and the remainder row forms a fourth chunk under 'keep', as in NannyML.
    assert.deepEqual(
      chunkByCount(rows, 3).map((chunk) => chunk.key),
      ['[0:2]', '[3:5]', '[6:8]', '[9:9]']
    );
    assert.deepEqual(
      chunkByCount(rows, 3, 'append').map((chunk) => chunk.key),
      ['[0:2]', '[3:5]', '[6:9]']
    );
  });

  void it('invalid chunk arguments are rejected', () => {
    assert.throws(() => chunkBySize(rows, 0), /Invalid chunk size 0/);
    assert.throws(() => chunkByCount(rows, 11), /Cannot split 10 rows into 11 chunks/);
  });
});
