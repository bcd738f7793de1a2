import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ColumnType, type ColumnValue, type SampleValues } from './column-samples.js';
import { normalCdf, regularizedGammaP, regularizedGammaQ } from './gamma.js';
import { adjustPValues } from './multiple-testing.js';
import {
  evaluateDatasetDrift,
  selectStatTest,
  withoutMissing,
  type ColumnInput,
  type ColumnInputValues,
} from './select-test.js';
import { getStatTest, isStatTestName, type StatTestName } from './stat-tests.js';
import { chiSquareTest } from './chi-square.js';
import { generateSample, type SampleSpec } from '../testing/seeded-samples.js';

/** A JSON number, or 'Infinity'/'NaN' for values JSON cannot hold. */
type JsonNumber = number | string;

interface ColumnCase {
  name: string;
  type: ColumnType;
  reference: SampleSpec;
  current: SampleSpec;
  categories: number | null;
  missingEvery: number | null;
  automatic: string;
  scores: Record<string, { score: JsonNumber; drifted: boolean; threshold: number }>;
  chiSquareStatistic: JsonNumber;
}

interface DatasetCase {
  name: string;
  columns: string[];
  byColumn: Record<string, { test: string; score: JsonNumber; drifted: boolean }>;
  driftedFeatures: number;
  share: number;
  drifted: boolean;
}

interface DriftExpectations {
  versions: Record<string, string>;
  columns: ColumnCase[];
  datasets: DatasetCase[];
  gammaincc: { a: number; x: number; q: number }[];
  ndtr: { z: number; cdf: number }[];
}

// Written by analyzers/reference/make_drift_expectations.py with Evidently, SciPy, numpy and pandas.
const expectations = JSON.parse(
  readFileSync(new URL('../../reference/drift-expected.json', import.meta.url), 'utf8')
) as DriftExpectations;

function toNumber(value: JsonNumber): number {
  return typeof value === 'number' ? value : Number(value);
}

/** Asserts |actual − expected| ≤ tolerance·|expected|, treating equal infinities and two NaNs as equal. */
function assertClose(actual: number, expected: number, relativeTolerance: number, label: string): void {
  if (Number.isNaN(expected) || !Number.isFinite(expected)) {
    assert.ok(Object.is(actual, expected), `${label}: expected ${expected}, got ${actual}`);
    return;
  }
  assert.ok(
    Math.abs(actual - expected) <= relativeTolerance * Math.abs(expected),
    `${label}: expected ${expected}, got ${actual} (relative tolerance ${relativeTolerance})`
  );
}

/** Mirrors values() of make_drift_expectations.py: categories 'c<k>' and every n-th value missing. */
function columnValues(
  spec: SampleSpec,
  categories: number | null,
  missingEvery: number | null
): (ColumnValue | null)[] {
  const raw: ColumnValue[] = generateSample(spec).map((value) =>
    categories === null ? value : `c${String(Math.floor(value * categories))}`
  );
  return raw.map((value, index) => (missingEvery !== null && index % missingEvery === 0 ? null : value));
}

function columnInput(testCase: ColumnCase): ColumnInput {
  return {
    name: testCase.name,
    type: testCase.type,
    reference: columnValues(testCase.reference, testCase.categories, testCase.missingEvery),
    current: columnValues(testCase.current, testCase.categories, testCase.missingEvery),
  };
}

function present(values: ColumnInputValues): SampleValues {
  return withoutMissing(values);
}

void describe('incomplete gamma and normal CDF', () => {
  // Both methods sum float64 terms in another order than Cephes; 1e-12 relative covers that.
  // The worst point measured is a = 499.5, x = 749.25 (a 1e-22 tail) at 6.5e-13.
  void it('Q(a, x) matches scipy gammaincc', () => {
    for (const { a, x, q } of expectations.gammaincc) {
      assertClose(regularizedGammaQ(a, x), q, 1e-12, `gammaincc(${a}, ${x})`);
      assertClose(regularizedGammaP(a, x) + regularizedGammaQ(a, x), 1, 1e-14, `P + Q at (${a}, ${x})`);
    }
  });

  void it('Φ(z) matches scipy ndtr', () => {
    for (const { z, cdf } of expectations.ndtr) {
      assertClose(normalCdf(z), cdf, 1e-13, `ndtr(${z})`);
    }
  });

  void it('rejects invalid arguments', () => {
    assert.throws(() => regularizedGammaQ(0, 1), RangeError);
    assert.throws(() => regularizedGammaQ(1, -1), RangeError);
  });
});

void describe('drift tests against Evidently', () => {
  for (const testCase of expectations.columns) {
    void it(`scores match Evidently: ${testCase.name}`, () => {
      const input = columnInput(testCase);
      const reference = present(input.reference);
      const current = present(input.current);
      for (const [name, expected] of Object.entries(testCase.scores)) {
        assert.ok(isStatTestName(name), `unknown test ${name}`);
        const test = getStatTest(name);
        const { score } = test.run(reference, current, testCase.type);

        // A relative 1e-9 leaves room for another summation order (numpy sums pairwise) and the 1e-12
        // incomplete gamma; p-values below 1e-300 are compared as zero.
        const expectedScore = toNumber(expected.score);
        if (expectedScore < 1e-300 && expectedScore >= 0) {
          assert.ok(score < 1e-300, `${name}: expected about 0, got ${score}`);
        } else {
          assertClose(score, expectedScore, 1e-9, name);
        }
        assert.equal(test.defaultThreshold, expected.threshold, `${name} default threshold`);
      }
    });

    void it(`automatic test matches Evidently: ${testCase.name}`, () => {
      const input = columnInput(testCase);
      const reference = present(input.reference);
      const current = present(input.current);
      const distinct = new Set([...reference, ...current]).size;
      assert.equal(selectStatTest(testCase.type, reference.length, distinct), testCase.automatic);
    });

    void it(`chi-square statistic matches scipy: ${testCase.name}`, () => {
      const input = columnInput(testCase);
      const result = chiSquareTest(present(input.reference), present(input.current));
      assertClose(result.statistic, toNumber(testCase.chiSquareStatistic), 1e-9, 'chi-square statistic');
    });
  }
});

void describe('dataset drift against Evidently reports', () => {
  for (const dataset of expectations.datasets) {
    void it(`verdict matches Evidently: ${dataset.name}`, () => {
      const inputs = dataset.columns.map((name) => {
        const testCase = expectations.columns.find((candidate) => candidate.name === name);
        assert.ok(testCase, `column case ${name} is missing`);
        return columnInput(testCase);
      });
      const result = evaluateDatasetDrift(inputs);

      for (const column of result.columns) {
        const expected = dataset.byColumn[column.name];
        assert.ok(expected, `Evidently has no result for ${column.name}`);
        assert.equal(column.test, expected.test as StatTestName, `${column.name} test`);
        assert.equal(column.drifted, expected.drifted, `${column.name} drifted`);
        const score = column.pValue ?? column.distance ?? Number.NaN;
        const expectedScore = toNumber(expected.score);
        if (expectedScore >= 1e-300) {
          assertClose(score, expectedScore, 1e-9, `${column.name} score`);
        }
      }
      assert.equal(result.dataset.driftedFeatures, dataset.driftedFeatures);
      assertClose(result.dataset.share, dataset.share, 1e-15, 'share');
      assert.equal(result.dataset.drifted, dataset.drifted);
      assert.equal(result.dataset.correction, 'none');
    });
  }
});

void describe('automatic selection and corrections', () => {
  void it('follows Evidently size and value rules', () => {
    assert.equal(selectStatTest('numerical', 1000, 6), 'ks');
    assert.equal(selectStatTest('numerical', 1000, 5), 'chisquare');
    assert.equal(selectStatTest('numerical', 1000, 2), 'z');
    assert.equal(selectStatTest('categorical', 1000, 50), 'chisquare');
    assert.equal(selectStatTest('categorical', 10, 1), 'z');
    assert.equal(selectStatTest('numerical', 1001, 6), 'wasserstein');
    assert.equal(selectStatTest('numerical', 1001, 5), 'jensenshannon');
    assert.equal(selectStatTest('categorical', 1001, 2), 'jensenshannon');
  });

  void it('Bonferroni multiplies by the count', () => {
    assert.deepEqual(adjustPValues([0.01, 0.2, Number.NaN, 0.04], 'bonferroni'), [
      0.03,
      0.6000000000000001,
      Number.NaN,
      0.12,
    ]);
  });

  void it('Benjamini–Hochberg matches statsmodels fdr_bh', () => {
    // statsmodels 0.15.0 multipletests([0.01, 0.04, 0.03, 0.2], method='fdr_bh')[1]
    const adjusted = adjustPValues([0.01, 0.04, 0.03, 0.2], 'benjamini-hochberg');
    const expected = [0.04, 0.05333333333333334, 0.05333333333333334, 0.2];
    for (const [index, value] of expected.entries()) {
      assertClose(adjusted[index] ?? Number.NaN, value, 1e-15, `adjusted[${index}]`);
    }
  });

  void it('corrected p-values decide drift', () => {
    const drifting: ColumnInput = {
      name: 'a',
      type: 'categorical',
      reference: ['x', 'y', 'x', 'y'],
      current: ['y', 'y', 'y', 'y'],
    };
    const raw = evaluateDatasetDrift([drifting], { correction: 'none' });
    const corrected = evaluateDatasetDrift([drifting, { ...drifting, name: 'b' }], {
      correction: 'bonferroni',
    });
    const rawPValue = raw.columns[0]?.pValue ?? Number.NaN;
    const first = corrected.columns[0];
    assert.ok(first);
    assert.equal(first.rawPValue, rawPValue);
    assertClose(first.pValue ?? Number.NaN, Math.min(1, 2 * rawPValue), 1e-15, 'bonferroni');
    assert.equal(corrected.dataset.correction, 'bonferroni');
  });

  void it('per-feature override sets test and threshold', () => {
    const input: ColumnInput = {
      name: 'a',
      type: 'numerical',
      reference: [1, 2, 3, null],
      current: [2, 3, 4],
      test: 'psi',
      threshold: 0.2,
    };
    const column = evaluateDatasetDrift([input]).columns[0];
    assert.ok(column);
    assert.equal(column.test, 'psi');
    assert.equal(column.automatic, false);
    assert.equal(column.threshold, 0.2);
    assert.equal(column.missingReference, 1);
    assert.equal(column.pValue, null);
  });

  void it('rejects a numerical-only test on a categorical column', () => {
    const input: ColumnInput = {
      name: 'a',
      type: 'categorical',
      reference: ['x'],
      current: ['y'],
      test: 'ks',
    };
    assert.throws(() => evaluateDatasetDrift([input]), /does not accept the categorical column 'a'/);
  });

  void it('rejects a column without values', () => {
    const input: ColumnInput = { name: 'a', type: 'numerical', reference: [null], current: [1] };
    assert.throws(() => evaluateDatasetDrift([input]), /no non-missing value in the reference/);
  });
});
