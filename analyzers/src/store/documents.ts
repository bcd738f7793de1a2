/**
 * Shapes of the MongoDB documents the analyzers write. They must stay readable by FerretDB 1.24, so the
 * queries use plain finds, `distinct` and indexes only.
 */

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

/** One of {@link METRICS}. */
export type MetricName = (typeof METRICS)[keyof typeof METRICS];

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
