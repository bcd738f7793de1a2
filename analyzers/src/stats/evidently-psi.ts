/**
 * Population Stability Index as Evidently 0.7's `psi` stattest computes it for any column:
 * PSI = Σ (r_i − c_i)·ln(r_i / c_i) over the shares of {@link binnedShares} with empty shares filled.
 * Unlike `populationStabilityIndex` of psi.ts (always Sturges bins, used for model scores), it counts values when the
 * column is categorical or its reference has at most 20 distinct values. Drift when PSI ≥ threshold (default 0.1).
 */
import { binnedSharesOf } from './binned-shares.js';
import { ColumnSamples, type ColumnType, type SampleValues } from './column-samples.js';

/**
 * Computes Evidently's PSI of `current` against `reference`.
 * @param reference - Reference sample without missing values, not empty.
 * @param current - Current sample without missing values, not empty.
 * @param columnType - The column's type.
 * @returns The index.
 */
export function evidentlyPsi(reference: SampleValues, current: SampleValues, columnType: ColumnType): number {
  return evidentlyPsiOf(ColumnSamples.of(reference, current, columnType));
}

/**
 * Computes {@link evidentlyPsi} from prepared samples.
 * @param samples - The column's samples.
 * @returns The index.
 */
export function evidentlyPsiOf(samples: ColumnSamples): number {
  const { referenceShares, currentShares } = binnedSharesOf(samples, true);
  let value = 0;
  for (const [index, referenceShare] of referenceShares.entries()) {
    const currentShare = currentShares[index] ?? 0;
    value += (referenceShare - currentShare) * Math.log(referenceShare / currentShare);
  }
  return value;
}
