import { ConfigError } from '@monitormed/common';

/** Analyzer tuning read from environment variables. */
export interface AnalyzerSettings {
  /** Entropy in bits at or above which a result gets a high-uncertainty Flag (UNCERTAINTY_THRESHOLD_BITS). */
  uncertaintyThresholdBits: number;
  /**
   * Margin width below which a result gets a high-uncertainty Flag (UNCERTAINTY_MARGIN_WIDTH). The margin is
   * the difference of the two class probabilities, |2p − 1|, and 0 turns this rule off.
   */
  uncertaintyMarginWidth: number;
  /** Number of a model's first windows, by window key, pooled as the drift reference (DRIFT_REFERENCE_WINDOWS). */
  driftReferenceWindows: number;
  /** KS p-value below which drift is detected (DRIFT_P_THRESHOLD). */
  driftPThreshold: number;
  /** Minimum results in a window before drift can be detected (DRIFT_MIN_WINDOW_N). */
  driftMinWindowN: number;
  /** Delay in milliseconds before a window's drift is evaluated, so a burst of results is evaluated once (DRIFT_DEBOUNCE_MS). */
  driftDebounceMs: number;
  /** Analysis jobs processed in parallel (ANALYZE_CONCURRENCY). */
  analyzeConcurrency: number;
  /** Drift evaluations processed in parallel (DRIFT_CONCURRENCY). */
  driftConcurrency: number;
  /** MC dropout passes per result when the model has an active surrogate (MC_DROPOUT_SAMPLES). */
  mcDropoutSamples: number;
}

/** Environment variables by name. */
export type Env = Record<string, string | undefined>;

/** Reads one numeric variable, or returns `fallback` when it is unset or empty; throws ConfigError when invalid. */
export function readNumber(
  env: Env,
  name: string,
  fallback: number,
  isValid: (value: number) => boolean,
  expected: string
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }

  const value = Number(raw);
  if (!Number.isFinite(value) || !isValid(value)) {
    throw new ConfigError(`Invalid ${name}="${raw}": expected ${expected}.`);
  }
  return value;
}

const isPositiveInteger = (value: number): boolean => Number.isInteger(value) && value >= 1;

/**
 * Reads the analyzer settings from `env`, with defaults.
 * @param env - Environment variables, by default `process.env`.
 * @returns The settings.
 * @throws ConfigError when a variable is set to an unusable value.
 */
export function loadAnalyzerSettings(env: Env = process.env): AnalyzerSettings {
  return {
    uncertaintyThresholdBits: readNumber(
      env,
      'UNCERTAINTY_THRESHOLD_BITS',
      0.97,
      (v) => v > 0 && v <= 1,
      'a number of bits above 0 and at most 1'
    ),
    uncertaintyMarginWidth: readNumber(
      env,
      'UNCERTAINTY_MARGIN_WIDTH',
      0.1,
      (v) => v >= 0 && v <= 1,
      'a margin width from 0 (rule off) to 1, such as 0.1'
    ),
    driftReferenceWindows: readNumber(
      env,
      'DRIFT_REFERENCE_WINDOWS',
      3,
      isPositiveInteger,
      'a whole number of windows, at least 1'
    ),
    driftPThreshold: readNumber(
      env,
      'DRIFT_P_THRESHOLD',
      0.01,
      (v) => v > 0 && v < 1,
      'a p-value between 0 and 1'
    ),
    driftMinWindowN: readNumber(
      env,
      'DRIFT_MIN_WINDOW_N',
      10,
      isPositiveInteger,
      'a whole number of results, at least 1'
    ),
    driftDebounceMs: readNumber(
      env,
      'DRIFT_DEBOUNCE_MS',
      1_500,
      (v) => Number.isInteger(v) && v >= 0,
      'milliseconds, 0 or more'
    ),
    analyzeConcurrency: readNumber(
      env,
      'ANALYZE_CONCURRENCY',
      4,
      isPositiveInteger,
      'a whole number of jobs, at least 1'
    ),
    driftConcurrency: readNumber(
      env,
      'DRIFT_CONCURRENCY',
      2,
      isPositiveInteger,
      'a whole number of jobs, at least 1'
    ),
    mcDropoutSamples: readNumber(
      env,
      'MC_DROPOUT_SAMPLES',
      30,
      (v) => Number.isInteger(v) && v >= 2 && v <= 1000,
      'a whole number of passes from 2 to 1000'
    ),
  };
}
