/**
 * Shapes of the MongoDB documents the analyzers write; the evaluation store's own are in
 * evaluation-documents.ts. They must stay readable by FerretDB 1.24, so the queries use plain finds,
 * `distinct` and indexes only.
 */
import type { UncertaintyRule } from '../uncertainty/high-uncertainty.js';
import type { EVALUATION_METRICS, FeatureMetricName, Granularity } from './evaluation-documents.js';

/** One analysed AI result in COLLECTIONS.aiResults, keyed by `observationId`. */
export interface AiResultDocument {
  observationId: string;
  /** `meta.versionId` of the Observation version that was analysed. */
  observationVersionId: string;
  /** `analyzed`, or `invalid` when the result could not be analysed, with the reason in `error`. */
  status: 'analyzed' | 'invalid';
  error?: string;
  modelId?: string;
  modelVersion?: string;
  deviceId?: string;
  /** UTC day of `effective`, `YYYY-MM-DD`. */
  window?: string;
  /** The model's probability output p. */
  score?: number;
  /** Binary predictive entropy of p, in bits. */
  entropy?: number;
  /** |2p − 1|. */
  margin?: number;
  /**
   * Rules that raised the high-uncertainty Flag: `entropy` (entropy at or above UNCERTAINTY_THRESHOLD_BITS)
   * and `margin` (margin below UNCERTAINTY_MARGIN_WIDTH). Empty when neither fired, absent on documents
   * written before the margin rule.
   */
  highUncertaintyRules?: UncertaintyRule[];
  /** `mc-dropout` when the mc* fields are set, else `entropy`. */
  uncertaintyMethod?: 'entropy' | 'mc-dropout';
  /** MC dropout on the surrogate: mean and standard deviation of the T pass probabilities. */
  mcMean?: number;
  mcStd?: number;
  /** MC dropout predictive entropy of the mean, in bits. */
  mcPredictiveEntropy?: number;
  /** MC dropout mutual information (BALD), in bits. */
  mcMutualInformation?: number;
  /** MC dropout passes T. */
  mcSamples?: number;
  surrogateVersion?: number;
  patientId?: string;
  /** Observation.effectiveDateTime. */
  effective?: Date;
  /**
   * The model's inputs for this result, keyed by feature name: numbers for numerical features, strings for
   * categorical ones, null when missing. The drift job tests each feature present in the reference.
   */
  features?: Record<string, number | string | null>;
  analyzedAt: Date;
  analyzerVersion: string;
}

/** Metric names written into COLLECTIONS.metrics. */
export const METRICS = {
  outputDriftKs: 'output-drift-ks',
  outputPsi: 'output-psi',
  uncertaintyEntropyMean: 'uncertainty-entropy-mean',
  /** KS of the window's result entropies against the reference's (uncertainty drift). */
  uncertaintyDriftKs: 'uncertainty-drift-ks',
  /** KS of the window's MC dropout mutual information against the reference's. */
  mcUncertaintyDriftKs: 'mc-uncertainty-drift-ks',
} as const;

/**
 * One of {@link METRICS}, of `EVALUATION_METRICS` in evaluation-documents.ts, or a per-feature metric such as
 * `feature-mean:age`.
 */
export type MetricName =
  | (typeof METRICS)[keyof typeof METRICS]
  | (typeof EVALUATION_METRICS)[keyof typeof EVALUATION_METRICS]
  | FeatureMetricName;

/** Unique key of a metric document. */
export interface MetricKey {
  modelId: string;
  modelVersion: string;
  metric: MetricName;
  /** Population subgroup; only `all` so far. */
  subgroup: string;
  window: string;
}

/** Drift status of a window: tested windows are `drift`, `no-drift` or `insufficient-data` (n below the minimum). */
export type DriftWindowStatus = 'reference' | 'drift' | 'no-drift' | 'insufficient-data';

/** One metric value in COLLECTIONS.metrics. */
export interface MetricDocument extends MetricKey {
  /** Window granularity; absent on documents written before the evaluation store, which are daily. */
  granularity?: Granularity;
  /** Start of the window's period, for time-range queries and retention; null for the reference profile. */
  windowStart?: Date | null;
  /** Sum of the values behind a mean, so rollups and dashboards can combine windows. */
  sum?: number;
  /** Drift tests: the test used (Evidently name) and its p-value or distance. */
  test?: string;
  /** Drift tests: `evidently` (the test's threshold) or `nannyml` (reference chunks' mean ± 3 std). */
  thresholdMode?: string;
  /** NannyML thresholds: the lower and upper limits of the metric. */
  lowerThreshold?: number | null;
  upperThreshold?: number | null;
  /** Categorical drift tests: current categories absent from the reference. */
  unseenCategories?: string[];
  /** Drift tests: missing-value rates of the reference and the window. */
  missingRateReference?: number;
  missingRateCurrent?: number;
  /** p-value for output-drift-ks, the index for output-psi, the mean for uncertainty-entropy-mean; null in reference windows. */
  value: number | null;
  /** Results in the window. */
  n: number;
  computedAt: Date;
  analyzerVersion: string;
  /** Drift metrics: status of the window. */
  status?: DriftWindowStatus;
  /** output-drift-ks: the KS statistic D. */
  statistic?: number | null;
  /** output-drift-ks: the p-value threshold. */
  threshold?: number;
  /** output-drift-ks: `exact` or `asymptotic`. */
  pValueMethod?: string | null;
  /** output-drift-ks: whether drift was detected. */
  detected?: boolean;
  /** output-drift-ks: minimum n for detection. */
  minN?: number;
  /** Drift metrics: results in the pooled reference. */
  referenceN?: number;
  /** Drift metrics: the reference window keys. */
  referenceWindows?: string[];
  /** output-psi: number of Sturges bins. */
  bins?: number;
}
