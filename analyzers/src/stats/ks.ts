/**
 * Two-sample Kolmogorov–Smirnov test (two-sided), following scipy.stats.ks_2samp with method='auto' as
 * SciPy 1.17.1 implements it. The tests compare with values SciPy wrote (reference/ks-expected.json).
 *
 * - Statistic: D = max |F1(x) − F2(x)| over the pooled sample, with both empirical CDFs right-continuous,
 *   so tied values are counted before the difference is taken (as scipy does).
 * - Exact p-value when the larger sample has at most {@link KS_MAX_EXACT_N} values, as in scipy: the share of
 *   the C(n1 + n2, n1) equally likely merge orders whose path leaves the band |i/n1 − j/n2| < D. It assumes
 *   no ties, like scipy.
 * - Asymptotic p-value otherwise, as scipy does: the one-sample finite-n distribution of D (scipy's `kstwo`)
 *   at n = round(n1·n2/(n1+n2)), rounded half to even like numpy (see kolmogorov-n.ts).
 */
import type { ColumnSamples } from './column-samples.js';
import { sortFloat64 } from './float64-sort.js';
import { kolmogorovFiniteSurvival } from './kolmogorov-n.js';
import type { ValueCounts } from './value-counts.js';

/** Largest sample size for which scipy's method='auto' (and this module) computes the exact p-value. */
export const KS_MAX_EXACT_N = 10_000;

/** Method of the p-value computation. */
export type KsPValueMethod = 'exact' | 'asymptotic';

/** Result of a two-sample KS test. */
export interface KsTestResult {
  /** D, the maximum distance between the two empirical CDFs, from 0 to 1. */
  statistic: number;
  /** Probability under H0 (same distribution) of a statistic at least as large as D. */
  pValue: number;
  method: KsPValueMethod;
  /** Size of the first sample. */
  n1: number;
  /** Size of the second sample. */
  n2: number;
}

/**
 * Runs the two-sided two-sample Kolmogorov–Smirnov test.
 * @param sample1 - First sample (for drift: the current window's scores).
 * @param sample2 - Second sample (for drift: the pooled reference scores).
 * @returns The statistic D, its p-value and how the p-value was computed.
 * @throws RangeError when a sample is empty or contains a value that is not a finite number.
 */
export function ksTwoSample(sample1: ArrayLike<number>, sample2: ArrayLike<number>): KsTestResult {
  return ksTwoSampleSorted(sortedFinite(sample1, 'sample1'), sortedFinite(sample2, 'sample2'));
}

/**
 * Runs {@link ksTwoSample} on two ascending samples of finite numbers, so a caller that already sorted them
 * (as ColumnSamples does) does not sort again.
 * @param sorted1 - First sample, ascending, not empty.
 * @param sorted2 - Second sample, ascending, not empty.
 * @returns The statistic D, its p-value and how the p-value was computed.
 */
export function ksTwoSampleSorted(sorted1: Float64Array, sorted2: Float64Array): KsTestResult {
  return ksResult(ksStatistic(sorted1, sorted2), sorted1.length, sorted2.length);
}

/**
 * Runs {@link ksTwoSample} with the reference as the first sample. Samples with few distinct values are
 * tested from their value counts, others from bucket summaries (bucketed-cdf.ts). Both give the same D as
 * the sorted walk without sorting the samples.
 * @param samples - The column's samples, numbers only.
 * @returns The statistic D, its p-value and how the p-value was computed.
 */
export function ksTwoSampleOf(samples: ColumnSamples): KsTestResult {
  const counts = samples.fewValueCounts();
  if (counts !== null && samples.isNumeric) {
    return ksResult(
      ksStatisticOfCounts(counts, samples.referenceSize, samples.currentSize),
      samples.referenceSize,
      samples.currentSize
    );
  }
  const distances = samples.cdfDistances();
  if (distances !== null) {
    return ksResult(distances.ksStatistic, samples.referenceSize, samples.currentSize);
  }
  const { reference, current } = samples.sorted();
  return ksTwoSampleSorted(reference, current);
}

function ksResult(statistic: number, n1: number, n2: number): KsTestResult {
  if (Math.max(n1, n2) <= KS_MAX_EXACT_N) {
    const exact = exactTwoSidedPValue(n1, n2, statistic);
    return { statistic: exact.statistic, pValue: exact.pValue, method: 'exact', n1, n2 };
  }

  const effectiveN = roundHalfToEven((n1 * n2) / (n1 + n2));
  const pValue = kolmogorovFiniteSurvival(effectiveN, statistic);
  return { statistic, pValue, method: 'asymptotic', n1, n2 };
}

function roundHalfToEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction !== 0.5) {
    return Math.round(value);
  }
  return floor % 2 === 0 ? floor : floor + 1;
}

function sortedFinite(sample: ArrayLike<number>, name: string): Float64Array {
  if (sample.length === 0) {
    throw new RangeError(`Invalid ${name}: the KS test needs at least one value in each sample.`);
  }
  const values = Float64Array.from(sample);
  for (const value of values) {
    if (!Number.isFinite(value)) {
      throw new RangeError(`Invalid ${name}: value ${String(value)} is not a finite number.`);
    }
  }
  return sortFloat64(values);
}

/** Computes D from value counts with ascending keys: the same differences as {@link ksStatistic}, value by value. */
function ksStatisticOfCounts(counts: ValueCounts, n1: number, n2: number): number {
  let i = 0;
  let j = 0;
  let maxDifference = 0;
  let minDifference = 0;
  for (const [index, referenceCount] of counts.reference.entries()) {
    i += referenceCount;
    j += counts.current[index] ?? 0;
    const difference = i / n1 - j / n2;
    if (difference > maxDifference) {
      maxDifference = difference;
    } else if (difference < minDifference) {
      minDifference = difference;
    }
  }
  return Math.max(maxDifference, -minDifference);
}

/** Computes D = max |F1 − F2| at every distinct pooled value, after counting all values tied with it. */
function ksStatistic(sorted1: Float64Array, sorted2: Float64Array): number {
  const n1 = sorted1.length;
  const n2 = sorted2.length;
  let i = 0;
  let j = 0;
  let maxDifference = 0;
  let minDifference = 0;

  while (i < n1 || j < n2) {
    const value = Math.min(sorted1[i] ?? Infinity, sorted2[j] ?? Infinity);
    while (i < n1 && (sorted1[i] ?? Infinity) <= value) {
      i += 1;
    }
    while (j < n2 && (sorted2[j] ?? Infinity) <= value) {
      j += 1;
    }

    const difference = i / n1 - j / n2;
    if (difference > maxDifference) {
      maxDifference = difference;
    } else if (difference < minDifference) {
      minDifference = difference;
    }
  }
  return Math.max(maxDifference, -minDifference);
}

function greatestCommonDivisor(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y !== 0) {
    [x, y] = [y, x % y];
  }
  return x;
}

/**
 * Computes the exact two-sided p-value P(D ≥ d) for sample sizes n1 and n2 under H0.
 *
 * A merge order of the two samples is a lattice path from (0, 0) to (n1, n2); at (i, j) the CDF difference is
 * i/n1 − j/n2 = (i·n2 − j·n1)/(n1·n2). In units of 1/lcm(n1, n2) the statistic is an integer h, and the path
 * stays inside when |i·n2 − j·n1| < h·gcd for every point, and the p-value is the share of paths that leave.
 * That share is computed directly, with no 1 − x cancellation, so tiny p-values keep their relative precision:
 * E(i, j) = (paths to (i, j) that already left) / C(i+j, i) is 1 outside the band and inside obeys
 * E(i, j) = (i·E(i−1, j) + j·E(i, j−1)) / (i + j). Every E stays within [0, 1], so nothing overflows.
 */
function exactTwoSidedPValue(
  n1: number,
  n2: number,
  statistic: number
): { statistic: number; pValue: number } {
  const gcd = greatestCommonDivisor(n1, n2);
  const lcm = (n1 / gcd) * n2;

  // Round D onto the lattice of attainable values, as scipy does, so float noise cannot move the boundary.
  const h = Math.round(statistic * lcm);
  const latticeStatistic = h / lcm;
  if (h === 0) {
    return { statistic: latticeStatistic, pValue: 1 };
  }

  const bound = h * gcd;
  // Columns not yet reached by the band lie outside it (above the diagonal band), so they start at 1.
  const exitedShare = new Float64Array(n2 + 1).fill(1);
  let previousLow = 0;

  for (let i = 0; i <= n1; i += 1) {
    // Inside columns j satisfy i·n2 − bound < j·n1 < i·n2 + bound; the band only moves right as i grows.
    const low = Math.max(0, Math.floor((i * n2 - bound) / n1) + 1);
    const high = Math.min(n2, Math.ceil((i * n2 + bound) / n1) - 1);
    if (low > high) {
      return { statistic: latticeStatistic, pValue: 1 };
    }
    exitedShare.fill(1, previousLow, Math.min(low, n2 + 1));
    previousLow = low;

    for (let j = low; j <= high; j += 1) {
      if (i === 0 && j === 0) {
        exitedShare[j] = 0;
        continue;
      }
      const fromAbove = i > 0 ? (exitedShare[j] ?? 1) * i : 0;
      const fromLeft = j > 0 ? (exitedShare[j - 1] ?? 1) * j : 0;
      exitedShare[j] = (fromAbove + fromLeft) / (i + j);
    }
  }

  return { statistic: latticeStatistic, pValue: clampProbability(exitedShare[n2] ?? 1) };
}

function clampProbability(value: number): number {
  return Math.min(1, Math.max(0, value));
}
