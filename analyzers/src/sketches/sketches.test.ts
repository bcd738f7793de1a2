import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateSample } from '../testing/seeded-samples.js';
import { mergeCategoricalSketches, sketchCategories } from './categorical-sketch.js';
import { mergeAll, mergeSketches, missingRate, type FeatureSketch } from './feature-sketch.js';
import {
  EXACT_CAPACITY,
  layoutFor,
  mergeNumericSketches,
  numericQuantile,
  sketchNumbers,
  type NumericSketch,
} from './numeric-sketch.js';
import { SketchMismatchError } from './sketch-mismatch-error.js';

/** Compares two numeric sketches: sums to a relative 1e-12 (floating-point addition order), the rest exactly. */
function assertSameNumeric(actual: NumericSketch, expected: NumericSketch): void {
  const { sum, sumSquares, ...exact } = actual;
  const { sum: expectedSum, sumSquares: expectedSquares, ...expectedExact } = expected;
  assert.deepEqual(exact, expectedExact);
  assert.ok(
    Math.abs(sum - expectedSum) <= 1e-12 * Math.abs(expectedSum),
    `sum ${String(sum)} vs ${String(expectedSum)}`
  );
  assert.ok(
    Math.abs(sumSquares - expectedSquares) <= 1e-12 * Math.abs(expectedSquares),
    `sumSquares ${String(sumSquares)} vs ${String(expectedSquares)}`
  );
}

function withMissing(values: number[]): (number | null)[] {
  return values.map((value, index) => (index % 17 === 0 ? null : value));
}

void describe('feature sketches', () => {
  const small = withMissing(generateSample({ seed: 11, n: 600, shift: 0.2, scale: 0.5, terms: 3 }));
  const layout = layoutFor(
    small.filter((value): value is number => value !== null),
    10
  );

  void it('merged halves equal the whole', () => {
    const whole = sketchNumbers(small, layout);
    const merged = mergeNumericSketches(
      sketchNumbers(small.slice(0, 250), layout),
      sketchNumbers(small.slice(250), layout)
    );
    assertSameNumeric(merged, whole);
    assert.notEqual(whole.values, null, 'values are kept below capacity');
    assert.equal(whole.missing, small.filter((value) => value === null).length);
  });

  void it('merge is associative', () => {
    const [a, b, c] = [small.slice(0, 100), small.slice(100, 400), small.slice(400)].map((part) =>
      sketchNumbers(part, layout)
    ) as [NumericSketch, NumericSketch, NumericSketch];
    assertSameNumeric(
      mergeNumericSketches(mergeNumericSketches(a, b), c),
      mergeNumericSketches(a, mergeNumericSketches(b, c))
    );
  });

  void it('large halves equal the whole', () => {
    const large = generateSample({ seed: 5, n: EXACT_CAPACITY * 3, shift: 0, scale: 1, terms: 4 });
    const largeLayout = layoutFor(large.slice(0, 1000), 20);
    const whole = sketchNumbers(large, largeLayout);
    const merged = mergeNumericSketches(
      sketchNumbers(large.slice(0, EXACT_CAPACITY - 1), largeLayout),
      sketchNumbers(large.slice(EXACT_CAPACITY - 1), largeLayout)
    );
    assertSameNumeric(merged, whole);
    assert.equal(whole.values, null, 'values are dropped above capacity');
    assert.ok(whole.underflow + whole.overflow > 0, 'the sample leaves the reference range');
  });

  void it('grid quantiles stay close', () => {
    const large = generateSample({ seed: 7, n: EXACT_CAPACITY * 2, shift: 0, scale: 1, terms: 4 });
    const sketch = sketchNumbers(large, layoutFor(large));
    const sorted = [...large].sort((a, b) => a - b);
    const cellWidth = (sketch.layout.upper - sketch.layout.lower) / 1024;
    for (const q of [0.1, 0.5, 0.9]) {
      const exact = sorted[Math.ceil(q * sorted.length) - 1] ?? Number.NaN;
      const estimate = numericQuantile(sketch, q) ?? Number.NaN;
      assert.ok(
        Math.abs(estimate - exact) <= cellWidth,
        `q=${String(q)}: ${String(estimate)} vs ${String(exact)}`
      );
    }
  });

  void it('exact quantile is the order statistic', () => {
    const sketch = sketchNumbers([5, 1, 4, 2, 3], layoutFor([1, 5]));
    assert.equal(numericQuantile(sketch, 0.5), 3);
    assert.equal(numericQuantile(sketch, 0), 1);
    assert.equal(numericQuantile(sketch, 1), 5);
  });

  void it('categorical halves equal the whole', () => {
    const values = ['a', 'b', null, 'c', 'a', '', 'b', 'a', 'd.x', '$e'];
    const whole = sketchCategories(values);
    assert.deepEqual(
      mergeCategoricalSketches(sketchCategories(values.slice(0, 4)), sketchCategories(values.slice(4))),
      whole
    );
    assert.deepEqual(whole.categories, [
      { category: '$e', count: 1 },
      { category: 'a', count: 3 },
      { category: 'b', count: 2 },
      { category: 'c', count: 1 },
      { category: 'd.x', count: 1 },
    ]);
    assert.equal(whole.missing, 2);
    assert.equal(missingRate(whole), 0.2);
  });

  void it('mismatched sketches are rejected', () => {
    const numeric = sketchNumbers([1, 2], layoutFor([1, 2]));
    const other = sketchNumbers([1, 2], layoutFor([0, 2]));
    assert.throws(() => mergeNumericSketches(numeric, other), SketchMismatchError);
    assert.throws(() => mergeSketches(numeric, sketchCategories(['a'])), SketchMismatchError);
  });

  void it('merges a list of windows', () => {
    const parts: FeatureSketch[] = [sketchCategories(['a']), sketchCategories(['b', 'a'])];
    assert.deepEqual(mergeAll(parts), sketchCategories(['a', 'b', 'a']));
    assert.equal(mergeAll([]), undefined);
  });
});
