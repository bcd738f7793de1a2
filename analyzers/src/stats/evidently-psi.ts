/**
 * Population Stability Index as Evidently 0.7's `psi` stattest computes it for any column:
 * PSI = Σ (r_i − c_i)·ln(r_i / c_i) over the shares of {@link binnedShares} with empty shares filled.
 * Unlike `populationStabilityIndex` of psi.ts (always Sturges bins, used for model scores), it counts values when the
 * column is categorical or its reference has at most 20 distinct values. Drift when PSI ≥ threshold (default 0.1).
 */
import { binnedShares, type ColumnType, type ColumnValue } from './binned-shares.js';

/**
 * Computes Evidently's PSI of `current` against `reference`.
 * @param reference - Reference sample without missing values, not empty.
 * @param current - Current sample without missing values, not empty.
 * @param columnType - The column's type.
 * @returns The index.
 */
export function evidentlyPsi(
  reference: readonly ColumnValue[],
  current: readonly ColumnValue[],
  columnType: ColumnType
): number {
  const { referenceShares, currentShares } = binnedShares(reference, current, columnType, true);
  let value = 0;
  for (const [index, referenceShare] of referenceShares.entries()) {
    const currentShare = currentShares[index] ?? 0;
    value += (referenceShare - currentShare) * Math.log(referenceShare / currentShare);
  }
  return value;
}
