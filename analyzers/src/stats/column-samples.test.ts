import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ColumnSamples, MAX_KEYS_COUNTED_BY_HASH, type ColumnType } from './column-samples.js';
import { hellingerDistance } from './hellinger.js';
import { jensenShannonDistance } from './jensen-shannon.js';
import { ksTwoSample } from './ks.js';
import { evaluateDatasetDrift } from './select-test.js';
import { getStatTest, STAT_TEST_NAMES } from './stat-tests.js';
import { histogramCounts, sturgesBinEdges, sturgesBinEdgesOf } from './psi.js';
import { distinctLowerBound } from './value-counts.js';
import { populationStandardDeviation, wassersteinDistance } from './wasserstein.js';
import { generateSample } from '../testing/seeded-samples.js';

function codes(seed: number, n: number, categories: number): number[] {
  return generateSample({ seed, n, shift: 0, scale: categories, terms: 1, quantum: 1 });
}

void describe('ColumnSamples', () => {
  void it('typed and plain arrays score alike', () => {
    // 6000 values take the radix sort, 9000 codes are too many to hash, 40 values and 2 codes are hashed.
    const cases: { type: ColumnType; reference: number[]; current: number[] }[] = [
      {
        type: 'numerical',
        reference: generateSample({ seed: 11, n: 6000, shift: 0, scale: 1, terms: 3 }),
        current: generateSample({ seed: 12, n: 5000, shift: 0.02, scale: 1, terms: 3 }),
      },
      {
        type: 'numerical',
        reference: generateSample({ seed: 17, n: 6000, shift: 0, scale: 1, terms: 3, quantum: 0.025 }),
        current: generateSample({ seed: 18, n: 5000, shift: 0.02, scale: 1, terms: 3, quantum: 0.025 }),
      },
      { type: 'categorical', reference: codes(13, 20000, 9000), current: codes(14, 15000, 9100) },
      { type: 'categorical', reference: codes(15, 6000, 2), current: codes(16, 5000, 2) },
    ];
    for (const { type, reference, current } of cases) {
      for (const name of STAT_TEST_NAMES) {
        const test = getStatTest(name);
        if (!test.columnTypes.includes(type)) {
          continue;
        }
        const plain = test.run(reference, current, type);
        const typed = test.run(Float64Array.from(reference), Float64Array.from(current), type);
        assert.equal(typed.score, plain.score, `${name} on ${type}`);
        assert.equal(typed.statistic, plain.statistic, `${name} statistic on ${type}`);

        // Text codes are counted with a Map in first-seen order, numbers after a sort, so sums differ in order.
        if (type === 'categorical') {
          const text = test.run(reference.map(String), current.map(String), type);
          const difference = Math.abs(text.score - plain.score);
          assert.ok(
            difference <= 1e-12 * Math.abs(plain.score),
            `${name}: text ${String(text.score)}, numbers ${String(plain.score)}`
          );
        }
      }
    }
  });

  void it('counts by hash and by sort agree', () => {
    const reference = Float64Array.from(codes(21, 30000, 10000));
    const current = Float64Array.from(codes(22, 20000, 10000));
    const manyKeys = ColumnSamples.of(reference, current, 'categorical');
    const bySort = manyKeys.valueCounts();
    const fewKeys = ColumnSamples.of(
      reference.map((value) => value % 10),
      current.map((value) => value % 10),
      'categorical'
    );
    const bySearch = fewKeys.valueCounts();

    assert.equal(manyKeys.fewValueCounts(), null);
    assert.ok(bySort.keys.length > MAX_KEYS_COUNTED_BY_HASH, `${String(bySort.keys.length)} keys`);
    assert.equal(bySearch.keys.length, 10);
    assert.deepEqual(bySearch.keys, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (let key = 0; key < 10; key += 1) {
      let referenceCount = 0;
      let currentCount = 0;
      for (const [index, value] of bySort.keys.entries()) {
        if (typeof value === 'number' && value % 10 === key) {
          referenceCount += bySort.reference[index] ?? 0;
          currentCount += bySort.current[index] ?? 0;
        }
      }
      assert.equal(bySearch.reference[key], referenceCount, `reference count of ${String(key)}`);
      assert.equal(bySearch.current[key], currentCount, `current count of ${String(key)}`);
    }
  });

  void it('caps distinct counts', () => {
    const samples = ColumnSamples.of([1, 2, 2, 3], [3, 4, 5, 6, 7], 'numerical');
    assert.equal(samples.distinctCount(), 7);
    assert.equal(samples.distinctCount(5), 6);
    assert.equal(samples.distinctCount(7), 7);
    assert.equal(samples.referenceDistinctCount(), 3);
    assert.equal(samples.referenceDistinctCount(2), 3);
  });

  void it('counts reference values past a wide current', () => {
    // The union has more values than the hash table takes, the reference only 5.
    const reference = Float64Array.from({ length: 500 }, (_, index) => index % 5);
    const current = Float64Array.from({ length: 10_000 }, (_, index) => index / 3);
    const samples = ColumnSamples.of(reference, current, 'numerical');
    assert.equal(samples.referenceDistinctCount(20), 5);
    assert.equal(samples.distinctCount(20), 21);
    assert.equal(samples.distinctCount(), 10_000);
  });

  void it('counts +0 and -0 as one value', () => {
    const samples = ColumnSamples.of(new Float64Array([0, -0, 1]), new Float64Array([-0, 2]), 'numerical');
    assert.equal(samples.distinctCount(), 3);
    assert.deepEqual(Array.from(samples.valueCounts().reference), [2, 1, 0]);
  });

  void it('counts codes and fractions together', () => {
    // Integers below 1024 take the direct lookup, the other values the hash table.
    const reference = new Float64Array([3, 1023, 1024, 3.5, -1, 3, 1024]);
    const current = new Float64Array([3.5, 1e9, 3, -1, 0.25]);
    const counts = ColumnSamples.of(reference, current, 'numerical').valueCounts();
    assert.deepEqual(counts.keys, [-1, 0.25, 3, 3.5, 1023, 1024, 1e9]);
    assert.deepEqual(Array.from(counts.reference), [1, 0, 2, 1, 1, 2, 0]);
    assert.deepEqual(Array.from(counts.current), [1, 1, 1, 1, 0, 0, 1]);
  });

  void it('tests few values without sorting', () => {
    // Ties make the counts path run; the array functions always sort, so both ways must agree.
    const reference = generateSample({ seed: 41, n: 12_000, shift: 0, scale: 1, terms: 2, quantum: 0.05 });
    const current = generateSample({ seed: 42, n: 11_000, shift: 0.03, scale: 1, terms: 2, quantum: 0.05 });
    const samples = ColumnSamples.of(reference, current, 'numerical');
    assert.notEqual(samples.fewValueCounts(), null);

    const ks = getStatTest('ks').score(samples);
    const sortedKs = ksTwoSample(reference, current);
    assert.equal(ks.statistic, sortedKs.statistic);
    assert.equal(ks.score, sortedKs.pValue);

    const normed = getStatTest('wasserstein').score(samples).score;
    const sortedNormed = wassersteinDistance(reference, current) / populationStandardDeviation(reference);
    assert.ok(
      Math.abs(normed - sortedNormed) <= 1e-12 * sortedNormed,
      `${String(normed)} against ${String(sortedNormed)}`
    );
  });

  void it('lists unseen values', () => {
    const numbers = ColumnSamples.of([1, 2, 2], [2, 9, 3, 9], 'categorical');
    assert.deepEqual(numbers.unseenValues(), [3, 9]);
    const text = ColumnSamples.of(['a', 'b'], ['c', 'a', 'd', 'c'], 'categorical');
    assert.deepEqual(text.unseenValues(), ['c', 'd']);
  });

  void it('rejects infinite and empty samples', () => {
    assert.throws(
      () => ColumnSamples.of([1, Infinity], [2], 'numerical'),
      /value Infinity is not a finite number/
    );
    assert.throws(() => ColumnSamples.of(new Float64Array([Number.NaN]), [2], 'numerical'), /value NaN/);
    assert.throws(() => ColumnSamples.of([], [2], 'numerical'), /Invalid reference sample/);
    assert.throws(() => ColumnSamples.of(['a'], ['b'], 'categorical').sorted(), /needs numbers/);
  });
});

void describe('evaluateDatasetDrift on Float64Arrays', () => {
  void it('treats NaN as missing', () => {
    const reference = Float64Array.from(generateSample({ seed: 31, n: 400, shift: 0, scale: 1, terms: 2 }));
    const current = Float64Array.from(generateSample({ seed: 32, n: 300, shift: 0, scale: 1, terms: 2 }));
    const withGaps = reference.slice();
    withGaps[0] = Number.NaN;
    withGaps[7] = Number.NaN;

    const result = evaluateDatasetDrift([{ name: 'x', type: 'numerical', reference: withGaps, current }])
      .columns[0];
    const expected = evaluateDatasetDrift([
      {
        name: 'x',
        type: 'numerical',
        reference: reference.filter((_, index) => index !== 0 && index !== 7),
        current,
      },
    ]).columns[0];
    assert.ok(result !== undefined && expected !== undefined);
    assert.equal(result.missingReference, 2);
    assert.equal(result.nReference, 398);
    assert.equal(result.test, 'ks');
    assert.equal(result.pValue, expected.pValue);
  });
});

void describe('Jensen–Shannon distance', () => {
  void it('near-identical shares match scipy', () => {
    // Counts of the benchmark's `sex` feature; the value is scipy 1.17.1's spatial.distance.jensenshannon.
    // With ln(x/y) in place of scipy's log1p form the terms cancel to a 3e-9 relative difference.
    const reference = [480595 / 1e6, 519405 / 1e6];
    const current = [480501 / 1e6, 519499 / 1e6];
    const expected = 6.651839525211512e-5;
    const actual = jensenShannonDistance(reference, current);
    assert.ok(
      Math.abs(actual - expected) <= 1e-12 * expected,
      `expected ${String(expected)}, got ${String(actual)}`
    );
  });
});

/** Tells whether the distinct-value lower bound gives the same Sturges bins as the number of values. */
function boundDecidesBins(reference: number[], current: number[]): boolean {
  const values = [...reference, ...current];
  const min = values.reduce((smallest, value) => Math.min(smallest, value), Infinity);
  const max = values.reduce((largest, value) => Math.max(largest, value), -Infinity);
  const bound = distinctLowerBound([Float64Array.from(values)], min, max);
  return sturgesBinEdgesOf(bound, min, max).length === sturgesBinEdgesOf(values.length, min, max).length;
}

/** Computes Evidently's numerical Hellinger distance the direct way: Sturges bins over the distinct values. */
function hellingerBySet(reference: number[], current: number[]): number {
  const edges = sturgesBinEdges([...new Set([...reference, ...current])]);
  const density = (values: number[]): number[] =>
    histogramCounts(values, edges).map(
      (count, bin) => count / ((edges[bin + 1] ?? 0) - (edges[bin] ?? 0)) / values.length
    );
  const referenceDensity = density(reference);
  const currentDensity = density(current);
  const width = ((edges.at(-1) ?? 0) - (edges[0] ?? 0)) / (edges.length - 1);
  const coefficient = referenceDensity.reduce(
    (sum, value, bin) => sum + Math.sqrt(value * (currentDensity[bin] ?? 0)) * width,
    0
  );
  return Math.sqrt(1 - Math.min(1, Math.max(0, coefficient)));
}

void describe('numerical Hellinger bins', () => {
  void it('bound path matches the distinct count', () => {
    // 120,000 continuous values: the lower bound gives the same bins as the value count, so nothing is sorted.
    const reference = generateSample({ seed: 51, n: 60_000, shift: 0, scale: 1, terms: 2 });
    const current = generateSample({ seed: 52, n: 60_000, shift: 0.02, scale: 1, terms: 2 });
    assert.ok(boundDecidesBins(reference, current));
    const actual = hellingerDistance(reference, current, 'numerical');
    const expected = hellingerBySet(reference, current);
    assert.ok(
      Math.abs(actual - expected) <= 1e-12 * expected,
      `${String(actual)} against ${String(expected)}`
    );
  });

  void it('sorted path matches the distinct count', () => {
    // About 9,500 distinct values among 60,000: too many to hash, too few for the bound, so the samples are sorted.
    const reference = codes(53, 30_000, 10_000);
    const current = codes(54, 30_000, 10_000).map((value) => value + 0.5);
    assert.ok(!boundDecidesBins(reference, current));
    const actual = hellingerDistance(reference, current, 'numerical');
    const expected = hellingerBySet(reference, current);
    assert.ok(
      Math.abs(actual - expected) <= 1e-12 * expected,
      `${String(actual)} against ${String(expected)}`
    );
  });

  void it('lower bound never exceeds the count', () => {
    const samples = [
      generateSample({ seed: 55, n: 20_000, shift: 0, scale: 1, terms: 2 }),
      codes(56, 20_000, 300),
      generateSample({ seed: 57, n: 20_000, shift: 0, scale: 1, terms: 1 }).map((value) => value ** 9),
    ];
    for (const values of samples) {
      const typed = Float64Array.from(values);
      const distinct = new Set(values).size;
      const bound = distinctLowerBound([typed], Math.min(...values), Math.max(...values));
      assert.ok(bound <= distinct, `bound ${String(bound)} above ${String(distinct)} distinct values`);
      assert.ok(bound >= Math.min(distinct, 300) / 2, `bound ${String(bound)} far below ${String(distinct)}`);
    }
  });
});
