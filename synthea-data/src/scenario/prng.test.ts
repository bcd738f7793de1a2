import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRng, deriveSeed, shuffle, streamRng } from './prng.js';

function take(seed: number, count: number): number[] {
  const rng = createRng(seed);
  return Array.from({ length: count }, () => rng.next());
}

void describe('createRng', () => {
  void it('repeats a sequence for a seed', () => {
    assert.deepEqual(take(42, 100), take(42, 100));
  });

  void it('differs between seeds', () => {
    assert.notDeepEqual(take(42, 10), take(43, 10));
  });

  void it('stays within [0, 1)', () => {
    for (const value of take(7, 10_000)) {
      assert.ok(value >= 0, `value ${String(value)} below 0`);
      assert.ok(value < 1, `value ${String(value)} not below 1`);
    }
  });

  void it('draws integers below the bound', () => {
    const rng = createRng(1);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const value = rng.int(5);
      assert.ok(Number.isInteger(value), `value ${String(value)} is an integer`);
      assert.ok(value >= 0, `value ${String(value)} below 0`);
      assert.ok(value < 5, `value ${String(value)} not below 5`);
      seen.add(value);
    }
    assert.equal(seen.size, 5);
  });

  void it('draws normals with mean 0 and sd 1', () => {
    const rng = createRng(3);
    const values = Array.from({ length: 20_000 }, () => rng.normal());
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    assert.ok(Math.abs(mean) < 0.03, `mean ${String(mean)}`);
    assert.ok(Math.abs(sd - 1) < 0.03, `sd ${String(sd)}`);
  });
});

void describe('deriveSeed', () => {
  void it('is stable and label-sensitive', () => {
    assert.equal(deriveSeed(42, 'a', 1), deriveSeed(42, 'a', 1));
    assert.notEqual(deriveSeed(42, 'a', 1), deriveSeed(42, 'a', 2));
    assert.notEqual(deriveSeed(42, 'a', 1), deriveSeed(41, 'a', 1));
  });

  void it('gives independent streams', () => {
    assert.equal(streamRng(5, 'p1', 3).next(), streamRng(5, 'p1', 3).next());
    assert.notEqual(streamRng(5, 'p1', 3).next(), streamRng(5, 'p2', 3).next());
  });
});

void describe('shuffle', () => {
  void it('permutes deterministically', () => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    const first = shuffle(items, createRng(9));
    assert.deepEqual(first, shuffle(items, createRng(9)));
    assert.deepEqual(
      [...first].sort((a, b) => a - b),
      items
    );
    assert.notDeepEqual(first, items);
  });
});
