/**
 * NannyML's StandardDeviationThreshold (`nannyml/thresholds.py`, 0.13): limits at mean ± 3 standard
 * deviations (population std, ddof 0, NaN ignored) of a metric over the reference chunks, clipped to the
 * metric's theoretical range by `calculate_threshold_values`. A chunk alerts when its value is above the
 * upper or below the lower limit.
 */

/** Lower and upper limits; null where none applies. */
export interface ThresholdLimits {
  lower: number | null;
  upper: number | null;
}

/** Options of {@link standardDeviationThreshold}. */
export interface StandardDeviationThresholdOptions {
  /** Multiplier of the std below the mean; null for no lower limit. Defaults to 3. */
  lowerMultiplier?: number | null;
  /** Multiplier of the std above the mean; null for no upper limit. Defaults to 3. */
  upperMultiplier?: number | null;
  /** Lowest possible metric value; a lower limit at or below it is replaced by it (NannyML's value limit). */
  lowerValueLimit?: number;
  /** Highest possible metric value; an upper limit at or above it is replaced by it. */
  upperValueLimit?: number;
}

/**
 * Computes the limits from the metric's values on the reference chunks.
 * @param referenceValues - One metric value per reference chunk; NaN values are ignored.
 * @throws RangeError when no reference value is finite.
 */
export function standardDeviationThreshold(
  referenceValues: readonly number[],
  options: StandardDeviationThresholdOptions = {}
): ThresholdLimits {
  const values = referenceValues.filter((value) => !Number.isNaN(value));
  if (values.length === 0) {
    throw new RangeError('Cannot compute a standard deviation threshold without reference chunk values.');
  }

  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  const variance = values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / values.length;
  const std = Math.sqrt(variance);
  const lowerMultiplier = options.lowerMultiplier === undefined ? 3 : options.lowerMultiplier;
  const upperMultiplier = options.upperMultiplier === undefined ? 3 : options.upperMultiplier;

  let lower = lowerMultiplier === null ? null : mean - std * lowerMultiplier;
  let upper = upperMultiplier === null ? null : mean + std * upperMultiplier;
  if (lower !== null && options.lowerValueLimit !== undefined && lower <= options.lowerValueLimit) {
    lower = options.lowerValueLimit;
  }
  if (upper !== null && options.upperValueLimit !== undefined && upper >= options.upperValueLimit) {
    upper = options.upperValueLimit;
  }
  return { lower, upper };
}

/** Tells whether a value is outside the limits (an alert in NannyML); NaN never alerts. */
export function isOutsideLimits(value: number, limits: ThresholdLimits): boolean {
  return (limits.upper !== null && value > limits.upper) || (limits.lower !== null && value < limits.lower);
}
