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
import { histogramCounts, sturgesBinEdges } from './psi.js';

/** Column types that Evidently's drift tests distinguish. */
export type ColumnType = 'numerical' | 'categorical';

/** One value of a column: a number for numerical columns, the cell text for categorical ones. */
export type ColumnValue = number | string;

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
 * Counts occurrences of each value.
 * @param values - Sample values.
 * @returns Value → count, in first-seen order.
 */
export function countValues(values: readonly ColumnValue[]): Map<ColumnValue, number> {
  const counts = new Map<ColumnValue, number>();
  for (const value of values) {
    counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  return counts;
}

/**
 * Lists the distinct values of both samples (Evidently's `get_unique_not_nan_values_list_from_series`).
 * @param reference - Reference sample.
 * @param current - Current sample.
 * @returns Distinct values, reference values first.
 */
export function distinctValues(
  reference: readonly ColumnValue[],
  current: readonly ColumnValue[]
): ColumnValue[] {
  return [...new Set<ColumnValue>([...reference, ...current])];
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
  reference: readonly ColumnValue[],
  current: readonly ColumnValue[],
  columnType: ColumnType,
  fillEmpty: boolean
): BinnedShares {
  let referenceShares: number[];
  let currentShares: number[];

  if (columnType === 'numerical' && new Set(reference).size > MAX_DISTINCT_VALUES_COUNTED) {
    const referenceNumbers = reference.map(Number);
    const currentNumbers = current.map(Number);
    const edges = sturgesBinEdges([...referenceNumbers, ...currentNumbers]);
    referenceShares = histogramCounts(referenceNumbers, edges).map((count) => count / reference.length);
    currentShares = histogramCounts(currentNumbers, edges).map((count) => count / current.length);
  } else {
    const keys = distinctValues(reference, current);
    const referenceCounts = countValues(reference);
    const currentCounts = countValues(current);
    referenceShares = keys.map((key) => (referenceCounts.get(key) ?? 0) / reference.length);
    currentShares = keys.map((key) => (currentCounts.get(key) ?? 0) / current.length);
  }

  if (fillEmpty) {
    referenceShares = fillEmptyShares(referenceShares);
    currentShares = fillEmptyShares(currentShares);
  }
  return { referenceShares, currentShares };
}

/** Replaces zero shares the way Evidently does, so logarithms of share ratios stay finite. */
function fillEmptyShares(shares: readonly number[]): number[] {
  const smallestNonZero = Math.min(...shares.filter((share) => share !== 0));
  const fill = smallestNonZero <= EMPTY_SHARE ? smallestNonZero / 10 ** 6 : EMPTY_SHARE;
  return shares.map((share) => (share === 0 ? fill : share));
}
