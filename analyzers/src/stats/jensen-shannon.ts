/**
 * Jensen–Shannon distance as Evidently 0.7's `jensenshannon` stattest computes it: the shares of
 * {@link binnedShares} without filling empty bins (Evidently 0.7 passes `feel_zeroes=False`), then
 * scipy.spatial.distance.jensenshannon with the natural logarithm:
 * JS = √((KL(p‖m) + KL(q‖m))/2), m = (p + q)/2, where a zero share contributes 0 (scipy's `rel_entr`).
 * It lies in [0, √ln 2]. Drift when JS ≥ threshold (default 0.1).
 */
import { binnedShares, type ColumnType, type ColumnValue } from './binned-shares.js';

/**
 * Computes scipy's Jensen–Shannon distance between two discrete distributions, each normalized to sum 1.
 * @param p - Non-negative weights.
 * @param q - Non-negative weights, same length as p.
 * @returns The distance (natural logarithm).
 */
export function jensenShannonDistance(p: readonly number[], q: readonly number[]): number {
  const pTotal = p.reduce((sum, value) => sum + value, 0);
  const qTotal = q.reduce((sum, value) => sum + value, 0);

  let left = 0;
  let right = 0;
  for (const [index, pRaw] of p.entries()) {
    const pShare = pRaw / pTotal;
    const qShare = (q[index] ?? 0) / qTotal;
    const mean = (pShare + qShare) / 2;
    left += relativeEntropyTerm(pShare, mean);
    right += relativeEntropyTerm(qShare, mean);
  }
  return Math.sqrt((left + right) / 2);
}

/** Computes scipy.special.rel_entr(x, y) = x·ln(x/y), which is 0 for x = 0. */
function relativeEntropyTerm(x: number, y: number): number {
  return x === 0 ? 0 : x * Math.log(x / y);
}

/**
 * Computes Evidently's Jensen–Shannon drift distance between two samples.
 * @param reference - Reference sample without missing values, not empty.
 * @param current - Current sample without missing values, not empty.
 * @param columnType - The column's type.
 * @returns The distance.
 */
export function evidentlyJensenShannon(
  reference: readonly ColumnValue[],
  current: readonly ColumnValue[],
  columnType: ColumnType
): number {
  const { referenceShares, currentShares } = binnedShares(reference, current, columnType, false);
  return jensenShannonDistance(referenceShares, currentShares);
}
