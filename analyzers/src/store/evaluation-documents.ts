/**
 * Documents of the evaluation store: feature sketches per window, reference profiles, evaluation metrics and
 * model summaries. Everything is read with plain finds on indexed keys, so FerretDB 1.24 and MongoDB run the
 * same queries.
 */
import type { FeatureSketch } from '../sketches/feature-sketch.js';
import type { WindowPeriod } from '../workers/windows.js';

/** Collection of feature sketches, one document per model version, feature, subgroup and window. */
export const SKETCHES_COLLECTION = 'feature_sketches';

/** Collection of reference profile descriptions, one per model version. */
export const REFERENCE_PROFILES_COLLECTION = 'reference_profiles';

/** Collection of per-model summary documents for dashboards. */
export const MODEL_SUMMARIES_COLLECTION = 'model_summaries';

/** Collection of histogram layouts chosen per model version and numerical feature. */
export const FEATURE_LAYOUTS_COLLECTION = 'feature_layouts';

/**
 * Window granularity: a calendar period, the reference profile, or one chunk of the reference (the chunks
 * give NannyML-style thresholds their spread).
 */
export type Granularity = WindowPeriod | 'reference' | 'reference-chunk';

/** Window key of every reference profile document. */
export const REFERENCE_WINDOW = 'reference';

/** Subgroup of the whole population. */
export const ALL_SUBGROUP = 'all';

/** Pseudo-feature names of the model output and its uncertainty, sketched beside the inputs. */
export const OUTPUT_FEATURES = { score: 'output:score', entropy: 'output:entropy' } as const;

/** Sketch of one feature in one window (or the reference profile) of one model version and subgroup. */
export interface SketchDocument {
  modelId: string;
  modelVersion: string;
  feature: string;
  subgroup: string;
  granularity: Granularity;
  /** Period key (see workers/windows.ts), or `reference`. */
  window: string;
  /** Start of the period; null for the reference. */
  windowStart: Date | null;
  sketch: FeatureSketch;
  updatedAt: Date;
}

/** Source of a reference profile. */
export type ReferenceSource =
  | { kind: 'upload'; fileName: string }
  | { kind: 'windows'; windows: string[] }
  | { kind: 'date-range'; from: string; to: string };

/** Description of a model version's reference profile; the sketches sit in {@link SKETCHES_COLLECTION}. */
export interface ReferenceProfileDocument {
  _id: string;
  modelId: string;
  modelVersion: string;
  source: ReferenceSource;
  /** Rows (results or CSV lines) the profile summarises. */
  rows: number;
  features: { name: string; kind: FeatureSketch['kind'] }[];
  /** Window keys of the profile's `reference-chunk` sketches. */
  chunkKeys: string[];
  createdAt: Date;
}

/** Metric names of the evaluation store, beside the drift metrics of documents.ts. */
export const EVALUATION_METRICS = {
  resultCount: 'result-count',
  scoreMean: 'output-score-mean',
  entropyMean: 'output-entropy-mean',
  /** Share of drifted input features in the window's dataset drift test. */
  featureDriftShare: 'feature-drift-share',
} as const;

/** Metric name of a per-feature value, such as `feature-mean:age`. */
export type FeatureMetricName = `feature-${'mean' | 'missing-rate' | 'drift'}:${string}`;

/** Summary of one model version for dashboards, updated by every rollup. */
export interface ModelSummaryDocument {
  _id: string;
  modelId: string;
  modelVersion: string;
  /** Latest daily window rolled up. */
  latestWindow: string;
  /** Results in that window. */
  latestWindowCount: number;
  /** Daily windows rolled up so far (each counted once). */
  windows: number;
  hasReferenceProfile: boolean;
  updatedAt: Date;
}
