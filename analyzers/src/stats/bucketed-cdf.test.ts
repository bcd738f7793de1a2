import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cdfDistances } from './bucketed-cdf.js';
import { ksTwoSample } from './ks.js';
import { wassersteinDistance } from './wasserstein.js';
import { createUniformGenerator } from '../testing/seeded-samples.js';

function seeded(length: number, seed: number, draw: (uniform: () => number) => number): Float64Array {
  const uniform = createUniformGenerator(seed);
  return Float64Array.from({ length }, () => draw(uniform));
}

function rangeOf(first: Float64Array, second: Float64Array): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const values of [first, second]) {
    for (const value of values) {
      min = Math.min(min, value);
      max = Math.max(max, value);
    }
  }
  return { min, max };
}

const bell = (uniform: () => number): number => uniform() + uniform() + uniform();

const CASES: { name: string; reference: Float64Array; current: Float64Array }[] = [
  { name: 'same distribution', reference: seeded(40_000, 1, bell), current: seeded(30_000, 2, bell) },
  {
    name: 'shifted',
    reference: seeded(40_000, 3, bell),
    current: seeded(30_000, 4, (uniform) => bell(uniform) + 0.05),
  },
  {
    name: 'skewed with an outlier',
    reference: seeded(40_000, 5, (uniform) => uniform() ** 8),
    current: Float64Array.from([...seeded(30_000, 6, (uniform) => uniform() ** 7), 1e6]),
  },
  {
    name: 'ties among continuous values',
    reference: seeded(40_000, 7, (uniform) => Math.floor(bell(uniform) * 4000) / 4000),
    current: seeded(30_000, 8, (uniform) => Math.floor((bell(uniform) + 0.01) * 4000) / 4000),
  },
  {
    name: 'negative and unequal sizes',
    reference: seeded(50_000, 9, (uniform) => -1000 * bell(uniform)),
    current: seeded(700, 10, (uniform) => -1000 * bell(uniform) - 20),
  },
  { name: 'tiny samples', reference: new Float64Array([3, 1, 2]), current: new Float64Array([2.5, 0.5]) },
  {
    name: 'constant against spread',
    reference: new Float64Array(5000).fill(1.5),
    current: seeded(5000, 11, bell),
  },
  {
    name: 'disjoint ranges',
    reference: seeded(20_000, 12, bell),
    current: seeded(20_000, 13, (uniform) => bell(uniform) + 10),
  },
];

void describe('cdfDistances', () => {
  for (const { name, reference, current } of CASES) {
    void it(`matches the sorted walk: ${name}`, () => {
      const { min, max } = rangeOf(reference, current);
      const distances = cdfDistances(reference, current, min, max);
      assert.ok(distances !== null);

      // D is built from the same counts as the sorted walk, so it is equal to the last bit.
      assert.equal(distances.ksStatistic, ksTwoSample(reference, current).statistic);

      // W1 sums the terms in another grouping, and 1e-12 relative is far below the benchmark's 1e-9.
      const expected = wassersteinDistance(reference, current);
      const difference = Math.abs(distances.wasserstein - expected);
      assert.ok(
        difference <= 1e-12 * expected,
        `W1 ${String(distances.wasserstein)}, sorted ${String(expected)}`
      );
    });
  }

  void it('returns zeros for one constant value', () => {
    assert.deepEqual(cdfDistances(new Float64Array([2, 2]), new Float64Array([2]), 2, 2), {
      ksStatistic: 0,
      wasserstein: 0,
    });
  });

  void it('returns null for an overflowing range', () => {
    const reference = new Float64Array([-1e308, 0]);
    const current = new Float64Array([1e308]);
    assert.equal(cdfDistances(reference, current, -1e308, 1e308), null);
  });
});
