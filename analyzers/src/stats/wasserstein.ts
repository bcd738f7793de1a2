/**
 * Normed Wasserstein distance as Evidently 0.7's `wasserstein` stattest computes it:
 * W1(reference, current) / max(σ_reference, 0.001), where W1 is scipy.stats.wasserstein_distance, the area
 * between the two empirical CDFs, ∫ |F_ref(x) − F_cur(x)| dx, and σ is numpy's population standard deviation
 * (ddof = 0). The 0.001 floor keeps a constant reference from dividing by zero. Drift when the value ≥ threshold
 * (default 0.1).
 */

/** Smallest reference standard deviation Evidently divides by. */
export const MIN_REFERENCE_STD = 0.001;

/**
 * Computes the first Wasserstein distance between two empirical distributions (scipy's `_cdf_distance(1, …)`).
 * @param first - First sample, not empty.
 * @param second - Second sample, not empty.
 * @returns Σ over consecutive pooled values of |F1 − F2|·(x_{k+1} − x_k).
 */
export function wassersteinDistance(first: readonly number[], second: readonly number[]): number {
  const sortedFirst = [...first].sort((a, b) => a - b);
  const sortedSecond = [...second].sort((a, b) => a - b);
  const pooled = [...sortedFirst, ...sortedSecond].sort((a, b) => a - b);

  let distance = 0;
  let i = 0;
  let j = 0;
  for (let k = 0; k < pooled.length - 1; k += 1) {
    const value = pooled[k] ?? 0;

    // Count the values ≤ the current pooled value (numpy searchsorted with side='right').
    while (i < sortedFirst.length && (sortedFirst[i] ?? Infinity) <= value) {
      i += 1;
    }
    while (j < sortedSecond.length && (sortedSecond[j] ?? Infinity) <= value) {
      j += 1;
    }

    const delta = (pooled[k + 1] ?? value) - value;
    distance += Math.abs(i / sortedFirst.length - j / sortedSecond.length) * delta;
  }
  return distance;
}

/**
 * Computes numpy's population standard deviation: √(Σ (x − mean)² / n).
 * @param values - Not empty.
 * @returns The standard deviation.
 */
export function populationStandardDeviation(values: readonly number[]): number {
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  const squares = values.reduce((sum, value) => sum + (value - mean) ** 2, 0);
  return Math.sqrt(squares / values.length);
}

/**
 * Computes Evidently's normed Wasserstein distance.
 * @param reference - Reference sample without missing values, not empty.
 * @param current - Current sample without missing values, not empty.
 * @returns W1 divided by the reference standard deviation (at least 0.001).
 */
export function normedWassersteinDistance(reference: readonly number[], current: readonly number[]): number {
  const norm = Math.max(populationStandardDeviation(reference), MIN_REFERENCE_STD);
  return wassersteinDistance(reference, current) / norm;
}
