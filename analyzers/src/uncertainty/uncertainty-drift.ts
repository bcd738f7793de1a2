/**
 * Uncertainty drift: a two-sample KS test of the current window's uncertainty scores against the reference
 * window's, as alibi-detect's ClassifierUncertaintyDrift does (uncertainty scores of the model's predictions,
 * then KS). A model that meets inputs unlike its training data tends to become less certain, so this drift
 * can show before labels arrive.
 */
import { ksTwoSample, type KsPValueMethod } from '../stats/ks.js';

/** Result of one uncertainty drift test. */
export interface UncertaintyDriftResult {
  /** KS statistic D. */
  statistic: number;
  pValue: number;
  pValueMethod: KsPValueMethod;
  /** `drift` when p < threshold with enough current values, `insufficient-data` when n < minN. */
  status: 'drift' | 'no-drift' | 'insufficient-data';
  detected: boolean;
  nReference: number;
  nCurrent: number;
  threshold: number;
}

/** Thresholds of {@link testUncertaintyDrift}. */
export interface UncertaintyDriftOptions {
  /** p-value below which drift is detected. */
  pThreshold: number;
  /** Minimum number of current values for a verdict. */
  minN: number;
}

/**
 * Tests whether the current uncertainty scores come from another distribution than the reference ones.
 * @param reference - Uncertainty scores of the reference window (entropy or mutual information, in bits).
 * @param current - Uncertainty scores of the current window, of the same kind.
 * @param options - p-value threshold and minimum n.
 * @returns The KS statistic, p-value and verdict.
 * @throws RangeError when a sample is empty or contains a value that is not a finite number.
 */
export function testUncertaintyDrift(
  reference: readonly number[],
  current: readonly number[],
  options: UncertaintyDriftOptions
): UncertaintyDriftResult {
  const ks = ksTwoSample(current, reference);
  const enough = current.length >= options.minN;
  const detected = enough && ks.pValue < options.pThreshold;
  let status: UncertaintyDriftResult['status'] = 'no-drift';
  if (!enough) {
    status = 'insufficient-data';
  } else if (detected) {
    status = 'drift';
  }

  return {
    statistic: ks.statistic,
    pValue: ks.pValue,
    pValueMethod: ks.method,
    status,
    detected,
    nReference: reference.length,
    nCurrent: current.length,
    threshold: options.pThreshold,
  };
}
