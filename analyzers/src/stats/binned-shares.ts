/**
 * Per-bin or per-category shares of two samples, as Evidently 0.7 (`get_binned_data` in
 * `evidently/legacy/calculations/stattests/utils.py`) prepares them for PSI and the Jensen–Shannon distance.
 *
 * - A numerical column whose reference has more than 20 distinct values is binned: numpy's Sturges edges over
 *   reference ∪ current, shares = histogram counts / sample size.
 * - Otherwise (a categorical column, or a numerical one with at most 20 distinct reference values) every
 *   distinct value of either sample is its own category.
 * - With `fillEmpty` (PSI, not Jensen–Shannon), each sample's zero shares become 0.0001, or the sample's smallest
 *   non-zero share divided by 10^6 when that share is 0.0001 or less.
 */
import { ColumnSamples, type ColumnType, type SampleValues } from './column-samples.js';
import { histogramCounts, sturgesBinEdgesOf } from './psi.js';

export type { ColumnType, ColumnValue } from './column-samples.js';

/** Distinct reference values above which Evidently bins a numerical column instead of counting values. */
export const MAX_DISTINCT_VALUES_COUNTED = 20;

/** Share that replaces an empty bin unless the sample has a smaller non-zero share. */
export const EMPTY_SHARE = 0.0001;

/** Shares of the reference and the current sample over the same bins or categories. */
export interface BinnedShares {
  referenceShares: number[];
  currentShares: number[];
}

/**
 * Computes the shares Evidently's `get_binned_data` returns.
 * @param reference - Reference sample without missing values, not empty.
 * @param current - Current sample without missing values, not empty.
 * @param columnType - Numerical columns may be binned; categorical ones never are.
 * @param fillEmpty - Whether zero shares are replaced (true for PSI, false for Jensen–Shannon).
 * @returns Shares in the same bin or category order for both samples.
 */
export function binnedShares(
  reference: SampleValues,
  current: SampleValues,
  columnType: ColumnType,
  fillEmpty: boolean
): BinnedShares {
  return binnedSharesOf(ColumnSamples.of(reference, current, columnType), fillEmpty);
}

/**
 * Computes {@link binnedShares} from prepared samples.
 * @param samples - The column's samples.
 * @param fillEmpty - Whether zero shares are replaced.
 * @returns Shares in the same bin or category order for both samples.
 */
export function binnedSharesOf(samples: ColumnSamples, fillEmpty: boolean): BinnedShares {
  let referenceShares: number[];
  let currentShares: number[];

  const binned =
    samples.columnType === 'numerical' &&
    samples.referenceDistinctCount(MAX_DISTINCT_VALUES_COUNTED) > MAX_DISTINCT_VALUES_COUNTED;
  if (binned) {
    const { reference, current } = samples.numbers();
    const { min, max } = samples.range();
    const edges = sturgesBinEdgesOf(reference.length + current.length, min, max);
    referenceShares = histogramCounts(reference, edges).map((count) => count / reference.length);
    currentShares = histogramCounts(current, edges).map((count) => count / current.length);
  } else {
    const counts = samples.valueCounts();
    referenceShares = Array.from(counts.reference, (count) => count / samples.referenceSize);
    currentShares = Array.from(counts.current, (count) => count / samples.currentSize);
  }

  if (fillEmpty) {
    referenceShares = fillEmptyShares(referenceShares);
    currentShares = fillEmptyShares(currentShares);
  }
  return { referenceShares, currentShares };
}

/** Replaces zero shares the way Evidently does, so logarithms of share ratios stay finite. */
function fillEmptyShares(shares: readonly number[]): number[] {
  const smallestNonZero = shares.reduce(
    (smallest, share) => (share === 0 ? smallest : Math.min(smallest, share)),
    Infinity
  );
  const fill = smallestNonZero <= EMPTY_SHARE ? smallestNonZero / 10 ** 6 : EMPTY_SHARE;
  return shares.map((share) => (share === 0 ? fill : share));
}
