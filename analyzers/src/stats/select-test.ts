/**
 * Evidently 0.7's automatic choice of a drift test per column (`_get_default_stattest` in
 * `evidently/legacy/calculations/stattests/registry.py`), per-column evaluation with missing values dropped,
 * and the dataset verdict (`get_dataset_drift`: drifted when the share of drifted columns ≥ drift share).
 *
 * With n_unique the number of distinct non-missing values in reference ∪ current:
 * - reference ≤ 1000 values: numerical with n_unique > 5 → `ks`; otherwise n_unique ≤ 2 → `z`, else `chisquare`
 *   (all p < 0.05);
 * - reference > 1000 values: numerical with n_unique > 5 → `wasserstein`, otherwise `jensenshannon` (≥ 0.1).
 */
import { ColumnSamples, type ColumnType, type ColumnValue, type SampleValues } from './column-samples.js';
import { adjustPValues, type PValueCorrection } from './multiple-testing.js';
import { getStatTest, isDrift, type ScoreKind, type StatTestName } from './stat-tests.js';

/** Reference size above which Evidently prefers distances to p-value tests. */
export const LARGE_REFERENCE_ROWS = 1000;

/** Evidently's default share of drifted columns for dataset drift. */
export const DEFAULT_DRIFT_SHARE = 0.5;

/**
 * Chooses Evidently's default test for a column.
 * @param columnType - The column's type.
 * @param referenceCount - Non-missing reference values.
 * @param distinctCount - Distinct non-missing values over reference and current.
 * @returns The test name.
 */
export function selectStatTest(
  columnType: ColumnType,
  referenceCount: number,
  distinctCount: number
): StatTestName {
  const manyValues = columnType === 'numerical' && distinctCount > 5;
  if (referenceCount <= LARGE_REFERENCE_ROWS) {
    if (manyValues) {
      return 'ks';
    }
    return distinctCount <= 2 ? 'z' : 'chisquare';
  }
  return manyValues ? 'wasserstein' : 'jensenshannon';
}

/** Values of one sample with missing values in place: null in an array, NaN in a Float64Array. */
export type ColumnInputValues = readonly (ColumnValue | null)[] | Float64Array;

/** One column to test, with missing values still in place. */
export interface ColumnInput {
  name: string;
  type: ColumnType;
  reference: ColumnInputValues;
  current: ColumnInputValues;
  /** Test to use instead of the automatic choice. */
  test?: StatTestName;
  /** Threshold to use instead of the test's default. */
  threshold?: number;
}

/** Drift result of one column. */
export interface ColumnDriftResult {
  name: string;
  type: ColumnType;
  test: StatTestName;
  /** Whether the test was chosen automatically. */
  automatic: boolean;
  kind: ScoreKind;
  statistic: number | null;
  /** p-value after the dataset's correction, for p-value tests; otherwise null. */
  pValue: number | null;
  /** p-value before correction, for p-value tests; otherwise null. */
  rawPValue: number | null;
  /** The distance, for distance tests; otherwise null. */
  distance: number | null;
  threshold: number;
  drifted: boolean;
  nReference: number;
  nCurrent: number;
  missingReference: number;
  missingCurrent: number;
  /** Distinct current values absent from the reference, for categorical columns; null for numerical ones. */
  unseenCategories: string[] | null;
}

/** Dataset verdict. */
export interface DatasetDriftResult {
  columns: ColumnDriftResult[];
  dataset: {
    driftedFeatures: number;
    features: number;
    share: number;
    driftShare: number;
    drifted: boolean;
    correction: PValueCorrection;
  };
}

/** Options of {@link evaluateDatasetDrift}. */
export interface DatasetDriftOptions {
  driftShare?: number;
  correction?: PValueCorrection;
}

/**
 * Tests every column and applies the dataset rule.
 * @param columns - Columns with their samples and overrides.
 * @param options - Drift share (default 0.5) and p-value correction across columns (default none).
 * @returns Per-column results and the verdict.
 * @throws RangeError when a column has no non-missing value in a sample or an override does not fit its type.
 */
export function evaluateDatasetDrift(
  columns: readonly ColumnInput[],
  options: DatasetDriftOptions = {}
): DatasetDriftResult {
  const driftShare = options.driftShare ?? DEFAULT_DRIFT_SHARE;
  const correction = options.correction ?? 'none';
  const results = columns.map(evaluateColumn);

  // Correct only the p-value tests; the distances have no null distribution to correct.
  const pValueResults = results.filter((result) => result.kind === 'p-value');
  const adjusted = adjustPValues(
    pValueResults.map((result) => result.rawPValue ?? Number.NaN),
    correction
  );
  for (const [index, result] of pValueResults.entries()) {
    const pValue = adjusted[index] ?? Number.NaN;
    result.pValue = pValue;
    result.drifted = isDrift('p-value', pValue, result.threshold);
  }

  const driftedFeatures = results.filter((result) => result.drifted).length;
  const share = results.length === 0 ? 0 : driftedFeatures / results.length;
  return {
    columns: results,
    dataset: {
      driftedFeatures,
      features: results.length,
      share,
      driftShare,
      drifted: share >= driftShare,
      correction,
    },
  };
}

/**
 * Drops the missing values of a sample: null in an array, NaN in a Float64Array.
 * @param values - A sample with missing values in place.
 * @returns The other values, in input order.
 */
export function withoutMissing(values: ColumnInputValues): SampleValues {
  if (values instanceof Float64Array) {
    let presentCount = 0;
    for (let index = 0; index < values.length; index += 1) {
      if (!Number.isNaN(values[index])) {
        presentCount += 1;
      }
    }
    if (presentCount === values.length) {
      return values;
    }
    const presentValues = new Float64Array(presentCount);
    let next = 0;
    for (let index = 0; index < values.length; index += 1) {
      const value = values[index] ?? Number.NaN;
      if (!Number.isNaN(value)) {
        presentValues[next] = value;
        next += 1;
      }
    }
    return presentValues;
  }
  return values.filter((value): value is ColumnValue => value !== null);
}

function evaluateColumn(column: ColumnInput): ColumnDriftResult {
  const reference = withoutMissing(column.reference);
  const current = withoutMissing(column.current);
  if (reference.length === 0 || current.length === 0) {
    const sample = reference.length === 0 ? 'reference' : 'current';
    throw new RangeError(`Column '${column.name}' has no non-missing value in the ${sample} data.`);
  }

  const samples = ColumnSamples.of(reference, current, column.type);
  // selectStatTest only compares the count with 2 and 5, so counting can stop after the sixth distinct value.
  const testName = column.test ?? selectStatTest(column.type, reference.length, samples.distinctCount(5));
  const test = getStatTest(testName);
  if (!test.columnTypes.includes(column.type)) {
    throw new RangeError(
      `Test '${testName}' does not accept the ${column.type} column '${column.name}'; use one of the tests for ${column.type} columns.`
    );
  }

  const threshold = column.threshold ?? test.defaultThreshold;
  const { statistic, score } = test.score(samples);
  const unseen = column.type === 'categorical' ? samples.unseenValues() : null;

  return {
    name: column.name,
    type: column.type,
    test: testName,
    automatic: column.test === undefined,
    kind: test.kind,
    statistic,
    pValue: test.kind === 'p-value' ? score : null,
    rawPValue: test.kind === 'p-value' ? score : null,
    distance: test.kind === 'distance' ? score : null,
    threshold,
    drifted: isDrift(test.kind, score, threshold),
    nReference: reference.length,
    nCurrent: current.length,
    missingReference: column.reference.length - reference.length,
    missingCurrent: column.current.length - current.length,
    unseenCategories: unseen === null ? null : unseen.map(String),
  };
}
