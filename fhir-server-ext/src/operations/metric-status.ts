/**
 * Status rules of metric values and of a model as a whole, shared by $monitoring-summary and
 * $compliance-report so the two always agree.
 */
import type { EvaluationRow } from '@monitormed/analyzers';

/** Status of one metric value or of a model. */
export type MetricStatus = 'ok' | 'warning' | 'critical' | 'insufficient-data' | 'info';

/** Kind of a metric, from its name. */
export type MetricCategory = 'uncertainty' | 'drift' | 'performance' | 'volume' | 'other';

/** Thresholds in force, from the analyzer settings. */
export interface StatusThresholds {
  /** Entropy in bits at or above which a result is uncertain (UNCERTAINTY_THRESHOLD_BITS). */
  uncertaintyThresholdBits: number;
  /** Margin |2p − 1| below which a result is uncertain, 0 when that rule is off (UNCERTAINTY_MARGIN_WIDTH). */
  uncertaintyMarginWidth: number;
  /** KS p-value below which output drift is detected (DRIFT_P_THRESHOLD). */
  driftPThreshold: number;
}

/** A metric row with the threshold, test and interval its document stores. */
export interface MetricValue extends EvaluationRow {
  threshold: number | null;
  test: string | null;
  statistic: number | null;
  /** 95% interval of performance metrics (Wilson, DeLong or CBPE), when stored. */
  lower: number | null;
  upper: number | null;
}

/** Tells whether a performance metric is estimated without labels (CBPE) rather than measured. */
export function isEstimated(metric: string): boolean {
  return metric.startsWith('cbpe-');
}

/** Metric whose detected drift makes the model critical: the model output itself moved. */
export const OUTPUT_DRIFT_METRIC = 'output-drift-ks';

/** Mean-entropy metrics, compared with the uncertainty threshold. */
const ENTROPY_MEAN_METRICS = new Set(['uncertainty-entropy-mean', 'output-entropy-mean']);

/** Returns the category of a metric name. */
export function categoryOf(metric: string): MetricCategory {
  if (metric.includes('drift') || metric.includes('psi')) {
    return 'drift';
  }
  if (metric.includes('uncertainty') || metric.includes('entropy')) {
    return 'uncertainty';
  }
  if (metric.startsWith('performance-') || isEstimated(metric)) {
    return 'performance';
  }
  if (metric === 'result-count') {
    return 'volume';
  }
  return 'other';
}

/** Returns the threshold that applies to a metric value: the stored one, else the configured one. */
export function thresholdOf(value: MetricValue, thresholds: StatusThresholds): number | null {
  if (value.threshold !== null) {
    return value.threshold;
  }
  if (ENTROPY_MEAN_METRICS.has(value.metric)) {
    return thresholds.uncertaintyThresholdBits;
  }
  if (value.metric === OUTPUT_DRIFT_METRIC || value.metric.endsWith('uncertainty-drift-ks')) {
    return thresholds.driftPThreshold;
  }
  return null;
}

/**
 * Returns the status of one metric value. Detected output drift is critical; other detected drift
 * (input features, uncertainty, dataset share) and a mean entropy at or above the uncertainty threshold
 * are warnings; windows the analyzers marked `insufficient-data` stay so; values without a rule are `info`.
 */
export function statusOf(value: MetricValue, thresholds: StatusThresholds): MetricStatus {
  if (value.status === 'insufficient-data') {
    return 'insufficient-data';
  }
  if (value.detected !== null) {
    if (!value.detected) {
      return 'ok';
    }
    return value.metric === OUTPUT_DRIFT_METRIC ? 'critical' : 'warning';
  }
  if (ENTROPY_MEAN_METRICS.has(value.metric) && value.value !== null) {
    return value.value >= thresholds.uncertaintyThresholdBits ? 'warning' : 'ok';
  }
  return 'info';
}

/** The model's status and the rule that set it. */
export interface ModelStatus {
  status: 'ok' | 'warning' | 'critical';
  rule: string;
}

/**
 * Returns the model's status: the worst metric status over the values, with the rule and the first
 * window that set it.
 */
export function modelStatusOf(values: readonly MetricValue[], thresholds: StatusThresholds): ModelStatus {
  for (const level of ['critical', 'warning'] as const) {
    const cause = values.find((value) => statusOf(value, thresholds) === level);
    if (cause !== undefined) {
      const threshold = thresholdOf(cause, thresholds);
      const comparison =
        cause.detected === null
          ? `mean ${String(cause.value)} bits is at or above the threshold ${String(threshold)} bits`
          : `drift was detected (value ${String(cause.value)}, threshold ${String(threshold)})`;
      return {
        status: level,
        rule: `${level}: ${cause.metric} in window ${cause.window}, subgroup ${cause.subgroup}: ${comparison}. Detected output drift is critical; other detected drift and high mean uncertainty are warnings.`,
      };
    }
  }
  return {
    status: 'ok',
    rule: 'ok: no metric in the selected windows detected drift or reached the uncertainty threshold.',
  };
}
