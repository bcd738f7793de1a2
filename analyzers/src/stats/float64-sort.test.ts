import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sortFloat64 } from './float64-sort.js';
import { createUniformGenerator } from '../testing/seeded-samples.js';

/** Asserts that sortFloat64 orders a copy of the values as the built-in comparison sort does. */
function assertSortsLikeBuiltIn(values: Float64Array): void {
  const expected = values.slice().sort();
  const actual = sortFloat64(values.slice());
  for (let index = 0; index < values.length; index += 1) {
    // === rather than Object.is, because the order of -0 and +0 is not specified.
    assert.ok(
      actual[index] === expected[index],
      `index ${String(index)}: expected ${String(expected[index])}, got ${String(actual[index])}`
    );
  }
}

function seeded(length: number, seed: number, draw: (uniform: () => number) => number): Float64Array {
  const uniform = createUniformGenerator(seed);
  return Float64Array.from({ length }, () => draw(uniform));
}

void describe('sortFloat64', () => {
  void it('sorts signed uniform values', () => {
    assertSortsLikeBuiltIn(seeded(50_000, 1, (uniform) => (uniform() - 0.5) * 1e6));
  });

  void it('sorts magnitudes from 1e-130 to 1e130', () => {
    const values = seeded(
      50_000,
      2,
      (uniform) => Math.exp((uniform() - 0.5) * 600) * (uniform() < 0.5 ? -1 : 1)
    );
    assertSortsLikeBuiltIn(values);
  });

  void it('sorts integer codes, skipping passes', () => {
    assertSortsLikeBuiltIn(seeded(50_000, 3, (uniform) => Math.floor(uniform() * 12)));
  });

  void it('sorts a skewed sample', () => {
    const values = seeded(50_000, 7, (uniform) => uniform() ** 8);
    values[123] = 1e12;
    assertSortsLikeBuiltIn(values);
  });

  void it('leaves a constant sample as it is', () => {
    assertSortsLikeBuiltIn(new Float64Array(10_000).fill(2.5));
  });

  void it('orders zeros, subnormals and extremes', () => {
    const specials = [0, -0, 5e-324, -5e-324, 1e-310, -1e-310, Number.MAX_VALUE, -Number.MAX_VALUE, 1, -1];
    assertSortsLikeBuiltIn(
      seeded(20_000, 4, (uniform) => specials[Math.floor(uniform() * specials.length)] ?? 0)
    );
  });

  void it('keeps sorted and reversed input in order', () => {
    const ascending = Float64Array.from({ length: 10_000 }, (_, index) => index / 7 - 300);
    assertSortsLikeBuiltIn(ascending);
    assertSortsLikeBuiltIn(ascending.slice().reverse());
  });

  void it('sorts short arrays with the built-in sort', () => {
    assertSortsLikeBuiltIn(seeded(100, 5, (uniform) => uniform() - 0.5));
    assert.deepEqual(Array.from(sortFloat64(new Float64Array(0))), []);
  });

  void it('sorts a subarray view in place', () => {
    const buffer = seeded(12_000, 6, (uniform) => uniform());
    const view = buffer.subarray(1_000, 11_000);
    const expected = view.slice().sort();
    const before = buffer[999];
    sortFloat64(view);
    assert.deepEqual(Array.from(view), Array.from(expected));
    assert.equal(buffer[999], before, 'a value outside the view changed');
  });
});
