import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { generateSample, type SampleSpec } from '../testing/seeded-samples.js';
import { chunkBySize } from '../workers/windows.js';
import { ksTwoSample } from './ks.js';
import { isOutsideLimits, standardDeviationThreshold } from './standard-deviation-threshold.js';

/** NannyML 0.13.1's KS drift with StandardDeviationThreshold on seeded samples, from make_drift_expectations.py. */
interface NannymlCase {
  name: string;
  reference: SampleSpec;
  analysis: SampleSpec;
  chunkSize: number;
  lowerThreshold: number;
  upperThreshold: number;
  chunks: { key: string; period: 'reference' | 'analysis'; value: number; alert: boolean }[];
}

const nannymlCases = (
  JSON.parse(readFileSync(new URL('../../reference/drift-expected.json', import.meta.url), 'utf8')) as {
    nannymlThresholds: NannymlCase[];
  }
).nannymlThresholds;

// numpy sums with pairwise summation and this code sums left to right, so means and stds can differ in the
// last bits. The KS statistics are exact ratios, compared at the same tolerance.
const TOLERANCE = 1e-12;

void describe('standard deviation threshold', () => {
  void it('matches the NannyML docstring example', () => {
    // NannyML's docstring: range(10) with multipliers 2 and 2.5 gives (-1.2445626465380286, 11.680703308172536).
    const limits = standardDeviationThreshold([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], {
      lowerMultiplier: 2,
      upperMultiplier: 2.5,
    });
    assert.ok(Math.abs((limits.lower ?? Number.NaN) - -1.2445626465380286) <= 1e-12);
    assert.ok(Math.abs((limits.upper ?? Number.NaN) - 11.680703308172536) <= 1e-12);
  });

  void it('uses mean ± 3 population std', () => {
    // Hand computation: mean 0.2, population variance ((0.1)² + 0 + (0.1)²) / 3 = 0.02 / 3.
    const std = Math.sqrt(0.02 / 3);
    const limits = standardDeviationThreshold([0.1, 0.2, 0.3]);
    assert.ok(Math.abs((limits.lower ?? Number.NaN) - (0.2 - 3 * std)) <= 1e-15);
    assert.ok(Math.abs((limits.upper ?? Number.NaN) - (0.2 + 3 * std)) <= 1e-15);
  });

  void it('clips to the value limits', () => {
    const limits = standardDeviationThreshold([0.01, 0.2, 0.05], {
      lowerValueLimit: 0,
      upperValueLimit: 0.25,
    });
    assert.equal(limits.lower, 0);
    assert.equal(limits.upper, 0.25);
  });

  void it('ignores NaN and rejects empty input', () => {
    assert.deepEqual(standardDeviationThreshold([1, Number.NaN, 1]), { lower: 1, upper: 1 });
    assert.throws(() => standardDeviationThreshold([Number.NaN]), /without reference chunk values/);
  });

  void it('alerts outside the limits only', () => {
    const limits = { lower: 0.1, upper: 0.3 };
    assert.equal(isOutsideLimits(0.31, limits), true);
    assert.equal(isOutsideLimits(0.09, limits), true);
    assert.equal(isOutsideLimits(0.3, limits), false);
    assert.equal(isOutsideLimits(Number.NaN, limits), false);
    assert.equal(isOutsideLimits(5, { lower: null, upper: null }), false);
  });

  for (const expected of nannymlCases) {
    void it(`matches NannyML: ${expected.name}`, () => {
      const reference = generateSample(expected.reference);
      const analysis = generateSample(expected.analysis);
      const periods = [
        ['reference', chunkBySize(reference, expected.chunkSize)],
        ['analysis', chunkBySize(analysis, expected.chunkSize)],
      ] as const;
      const values = periods.flatMap(([period, chunks]) =>
        chunks.map((chunk) => ({
          period,
          key: chunk.key,
          value: ksTwoSample(reference, chunk.rows).statistic,
        }))
      );

      const limits = standardDeviationThreshold(
        values.filter((entry) => entry.period === 'reference').map((entry) => entry.value),
        { lowerValueLimit: 0 }
      );
      assert.ok(
        Math.abs((limits.lower ?? Number.NaN) - expected.lowerThreshold) <= TOLERANCE,
        `lower ${String(limits.lower)}`
      );
      assert.ok(
        Math.abs((limits.upper ?? Number.NaN) - expected.upperThreshold) <= TOLERANCE,
        `upper ${String(limits.upper)}`
      );

      assert.equal(values.length, expected.chunks.length);
      for (const [index, chunk] of expected.chunks.entries()) {
        const actual = values[index];
        assert.ok(actual, `chunk ${chunk.key} exists`);
        assert.equal(actual.key, chunk.key);
        assert.equal(actual.period, chunk.period);
        assert.ok(
          Math.abs(actual.value - chunk.value) <= TOLERANCE,
          `${chunk.period} ${chunk.key} value ${String(actual.value)}`
        );
        assert.equal(
          isOutsideLimits(actual.value, limits),
          chunk.alert,
          `${chunk.period} ${chunk.key} alert`
        );
      }
    });
  }
});
