/**
 * Normed Wasserstein distance as Evidently 0.7's `wasserstein` stattest computes it:
 * W1(reference, current) / max(σ_reference, 0.001), where W1 is scipy.stats.wasserstein_distance, the area
 * between the two empirical CDFs, ∫ |F_ref(x) − F_cur(x)| dx, and σ is numpy's population standard deviation
 * (ddof = 0). The 0.001 floor keeps a constant reference from dividing by zero. Drift when the value ≥ threshold
 * (default 0.1).
 */

import { ColumnSamples } from './column-samples.js';
import { CompensatedSum } from './compensated-sum.js';
import { sortFloat64 } from './float64-sort.js';
import type { ValueCounts } from './value-counts.js';

/** Smallest reference standard deviation Evidently divides by. */
export const MIN_REFERENCE_STD = 0.001;

/**
 * Computes the first Wasserstein distance between two empirical distributions (scipy's `_cdf_distance(1, …)`).
 * @param first - First sample, not empty.
 * @param second - Second sample, not empty.
 * @returns Σ over consecutive pooled values of |F1 − F2|·(x_{k+1} − x_k).
 */
export function wassersteinDistance(first: ArrayLike<number>, second: ArrayLike<number>): number {
  return wassersteinDistanceSorted(
    sortFloat64(Float64Array.from(first)),
    sortFloat64(Float64Array.from(second))
  );
}

/**
 * Computes {@link wassersteinDistance} of two ascending samples by walking their distinct values together.
 * Tied pooled values add a zero-width term in scipy, so the walk skips them.
 * @param first - First sample, ascending, not empty.
 * @param second - Second sample, ascending, not empty.
 * @returns The distance.
 */
export function wassersteinDistanceSorted(first: Float64Array, second: Float64Array): number {
  const n1 = first.length;
  const n2 = second.length;
  let i = 0;
  let j = 0;
  let value = Math.min(first[0] ?? Infinity, second[0] ?? Infinity);
  const sum = new CompensatedSum();

  for (;;) {
    // Count the values ≤ the current pooled value (numpy searchsorted with side='right').
    while (i < n1 && (first[i] ?? Infinity) <= value) {
      i += 1;
    }
    while (j < n2 && (second[j] ?? Infinity) <= value) {
      j += 1;
    }
    if (i === n1 && j === n2) {
      return sum.total();
    }

    const next = Math.min(first[i] ?? Infinity, second[j] ?? Infinity);
    sum.add(Math.abs(i / n1 - j / n2) * (next - value));
    value = next;
  }
}

/**
 * Computes numpy's population standard deviation: √(Σ (x − mean)² / n).
 * @param values - Not empty.
 * @returns The standard deviation.
 */
export function populationStandardDeviation(values: ArrayLike<number>): number {
  const sum = new CompensatedSum();
  for (let index = 0; index < values.length; index += 1) {
    sum.add(values[index] ?? 0);
  }
  const mean = sum.total() / values.length;

  const squares = new CompensatedSum();
  for (let index = 0; index < values.length; index += 1) {
    squares.add(((values[index] ?? 0) - mean) ** 2);
  }
  return Math.sqrt(squares.total() / values.length);
}

/**
 * Computes Evidently's normed Wasserstein distance.
 * @param reference - Reference sample without missing values, not empty.
 * @param current - Current sample without missing values, not empty.
 * @returns W1 divided by the reference standard deviation (at least 0.001).
 */
export function normedWassersteinDistance(reference: ArrayLike<number>, current: ArrayLike<number>): number {
  return normedWassersteinDistanceOf(
    ColumnSamples.of(Float64Array.from(reference), Float64Array.from(current), 'numerical')
  );
}

/**
 * Computes {@link normedWassersteinDistance} from prepared samples.
 * @param samples - The column's samples.
 * @returns W1 divided by the reference standard deviation (at least 0.001).
 */
export function normedWassersteinDistanceOf(samples: ColumnSamples): number {
  const norm = Math.max(populationStandardDeviation(samples.numbers().reference), MIN_REFERENCE_STD);
  const counts = samples.fewValueCounts();
  if (counts !== null) {
    return wassersteinDistanceOfCounts(counts, samples.referenceSize, samples.currentSize) / norm;
  }
  const distances = samples.cdfDistances();
  if (distances !== null) {
    return distances.wasserstein / norm;
  }
  const { reference, current } = samples.sorted();
  return wassersteinDistanceSorted(reference, current) / norm;
}

/**
 * Computes {@link wassersteinDistance} from value counts with ascending numeric keys, so samples with few
 * distinct values need no sort. The terms are those of {@link wassersteinDistanceSorted}.
 */
function wassersteinDistanceOfCounts(counts: ValueCounts, n1: number, n2: number): number {
  const sum = new CompensatedSum();
  let i = 0;
  let j = 0;
  for (let index = 0; index + 1 < counts.keys.length; index += 1) {
    i += counts.reference[index] ?? 0;
    j += counts.current[index] ?? 0;
    const delta = Number(counts.keys[index + 1]) - Number(counts.keys[index]);
    sum.add(Math.abs(i / n1 - j / n2) * delta);
  }
  return sum.total();
}
