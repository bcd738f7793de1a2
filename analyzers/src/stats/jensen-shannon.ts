/**
 * Jensen–Shannon distance as Evidently 0.7's `jensenshannon` stattest computes it: the shares of
 * {@link binnedShares} without filling empty bins (Evidently 0.7 passes `feel_zeroes=False`), then
 * scipy.spatial.distance.jensenshannon with the natural logarithm:
 * JS = √((KL(p‖m) + KL(q‖m))/2), m = (p + q)/2, where a zero share contributes 0 (scipy's `rel_entr`).
 * It lies in [0, √ln 2]. Drift when JS ≥ threshold (default 0.1).
 */
import { binnedSharesOf } from './binned-shares.js';
import { ColumnSamples, type ColumnType, type SampleValues } from './column-samples.js';

/**
 * Computes scipy's Jensen–Shannon distance between two discrete distributions, each normalized to sum 1.
 * @param p - Non-negative weights.
 * @param q - Non-negative weights, same length as p.
 * @returns The distance (natural logarithm).
 */
export function jensenShannonDistance(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let pTotal = 0;
  let qTotal = 0;
  for (let index = 0; index < p.length; index += 1) {
    pTotal += p[index] ?? 0;
    qTotal += q[index] ?? 0;
  }

  let left = 0;
  let right = 0;
  for (let index = 0; index < p.length; index += 1) {
    const pShare = (p[index] ?? 0) / pTotal;
    const qShare = (q[index] ?? 0) / qTotal;
    const mean = (pShare + qShare) / 2;
    left += relativeEntropyTerm(pShare, mean);
    right += relativeEntropyTerm(qShare, mean);
  }
  return Math.sqrt((left + right) / 2);
}

/** Smallest positive normal float64, numpy's finfo(float64).tiny. */
const SMALLEST_NORMAL = 2.2250738585072014e-308;

/**
 * Computes scipy.special.rel_entr(x, y) = x·ln(x/y), which is 0 for x = 0, by SciPy 1.17's branches
 * (scipy/special/_convex_analysis.pxd). For 0.5 < x/y < 2 it takes x·log1p((x − y)/y): near-identical
 * distributions make each term tiny and the sum cancel, and ln(x/y) there would differ from scipy's value by
 * up to 1e-8 relative after the cancellation.
 */
function relativeEntropyTerm(x: number, y: number): number {
  if (x === 0) {
    return 0;
  }
  const ratio = x / y;
  if (ratio > 0.5 && ratio < 2) {
    return x * Math.log1p((x - y) / y);
  }
  // A ratio that underflows to a subnormal or overflows would lose the logarithm, so take it in two parts.
  if (ratio > SMALLEST_NORMAL && ratio < Infinity) {
    return x * Math.log(ratio);
  }
  return x * (Math.log(x) - Math.log(y));
}

/**
 * Computes Evidently's Jensen–Shannon drift distance between two samples.
 * @param reference - Reference sample without missing values, not empty.
 * @param current - Current sample without missing values, not empty.
 * @param columnType - The column's type.
 * @returns The distance.
 */
export function evidentlyJensenShannon(
  reference: SampleValues,
  current: SampleValues,
  columnType: ColumnType
): number {
  return evidentlyJensenShannonOf(ColumnSamples.of(reference, current, columnType));
}

/**
 * Computes {@link evidentlyJensenShannon} from prepared samples.
 * @param samples - The column's samples.
 * @returns The distance.
 */
export function evidentlyJensenShannonOf(samples: ColumnSamples): number {
  const { referenceShares, currentShares } = binnedSharesOf(samples, false);
  return jensenShannonDistance(referenceShares, currentShares);
}
