/**
 * Chi-square goodness-of-fit drift test as Evidently 0.7's `chisquare` stattest runs it: the current counts of
 * each value are the observed frequencies, the reference counts scaled by n_current/n_reference the expected
 * ones, and scipy.stats.chisquare gives χ² = Σ (O − E)²/E with p = chi2.sf(χ², k − 1) over the k distinct
 * values of both samples. A value absent from the reference has E = 0, so χ² = ∞ and p = 0, as in scipy.
 * With a single distinct value k − 1 = 0 and scipy returns NaN. Drift when p < threshold (default 0.05).
 */
import { ColumnSamples, type SampleValues } from './column-samples.js';
import { chiSquareSurvival } from './gamma.js';

/** Statistic and p-value of a chi-square test. */
export interface ChiSquareResult {
  statistic: number;
  /** NaN when both samples contain only one and the same value (no degrees of freedom). */
  pValue: number;
  degreesOfFreedom: number;
}

/**
 * Runs the chi-square test of the current value frequencies against the reference proportions.
 * @param reference - Reference sample without missing values, not empty.
 * @param current - Current sample without missing values, not empty.
 * @returns χ², its p-value and the degrees of freedom.
 */
export function chiSquareTest(reference: SampleValues, current: SampleValues): ChiSquareResult {
  return chiSquareTestOf(ColumnSamples.of(reference, current, 'categorical'));
}

/**
 * Runs {@link chiSquareTest} on prepared samples.
 * @param samples - The column's samples.
 * @returns χ², its p-value and the degrees of freedom.
 */
export function chiSquareTestOf(samples: ColumnSamples): ChiSquareResult {
  const counts = samples.valueCounts();
  const scale = samples.currentSize / samples.referenceSize;

  let statistic = 0;
  for (const [index, referenceCount] of counts.reference.entries()) {
    const observed = counts.current[index] ?? 0;
    const expected = referenceCount * scale;
    // Every key occurs in one sample, so expected = 0 implies observed > 0 and an infinite term.
    statistic += expected === 0 ? Infinity : (observed - expected) ** 2 / expected;
  }

  const degreesOfFreedom = counts.keys.length - 1;
  const pValue = degreesOfFreedom > 0 ? chiSquareSurvival(statistic, degreesOfFreedom) : Number.NaN;
  return { statistic, pValue, degreesOfFreedom };
}
