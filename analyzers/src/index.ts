export { startAnalyzers, type Analyzers, type AnalyzersOptions } from './analyzers.js';
export { loadAnalyzerSettings, type AnalyzerSettings } from './settings.js';
export { InvalidResultError } from './invalid-result-error.js';
export { binaryEntropyBits, decisionMargin, isProbability } from './stats/entropy.js';
export { kolmogorovFiniteSurvival } from './stats/kolmogorov-n.js';
export { KS_MAX_EXACT_N, ksTwoSample, type KsPValueMethod, type KsTestResult } from './stats/ks.js';
export {
  PSI_EMPTY_BIN_SHARE,
  populationStabilityIndex,
  sturgesBinEdges,
  type PsiResult,
} from './stats/psi.js';
export {
  ANALYZER_VERSION,
  buildDriftExtension,
  buildUncertaintyExtension,
  readDriftReference,
  readUncertainty,
  type DriftReference,
  type DriftStatus,
  type RecordedUncertainty,
  type RecordedUncertaintyRules,
} from './fhir/extensions.js';
export {
  assessUncertainty,
  type UncertaintyAssessment,
  type UncertaintyLimits,
  type UncertaintyRule,
} from './uncertainty/high-uncertainty.js';
export { buildMonitoringFlag, flagIdentifierQuery, flagIdentifierValue } from './fhir/flags.js';
export {
  DEVICE_METRIC_ID_SYSTEM,
  METRIC_OBSERVATION_ID_SYSTEM,
  buildMetricObservation,
  buildMetricTransaction,
  writeMetricObservations,
  type MetricRecord,
} from './fhir/metric-observations.js';
export {
  METRICS,
  type AiResultDocument,
  type DriftWindowStatus,
  type MetricDocument,
  type MetricKey,
  type MetricName,
} from './store/documents.js';
export {
  DEFAULT_MC_SAMPLES,
  McDropoutScorer,
  summarizePasses,
  type McDropoutEstimate,
} from './uncertainty/mc-dropout.js';
export { testUncertaintyDrift, type UncertaintyDriftResult } from './uncertainty/uncertainty-drift.js';
export {
  encodeFeatures,
  featureNames,
  featureSpecFor,
  registerFeatureSpec,
  type SurrogateFeatureSpec,
} from './surrogate/features.js';
export { trainSurrogate, type SurrogatePair, type TrainingResult } from './surrogate/train.js';
export { exportMlpToOnnx, readOnnxMetadata } from './surrogate/onnx-export.js';
export { SurrogateStore, surrogateBytes, type SurrogateDocument } from './surrogate/store.js';
export { ResultsStore } from './store/results-store.js';
export { queryEvaluation, type EvaluationQuery, type EvaluationRow } from './store/evaluation-query.js';
export {
  EVALUATION_METRICS,
  REFERENCE_WINDOW,
  ALL_SUBGROUP,
  OUTPUT_FEATURES,
  SKETCHES_COLLECTION,
  type SketchDocument,
} from './store/evaluation-documents.js';
export { EvaluationStore } from './store/evaluation-store.js';
export { decodeSketch, type StoredSketch } from './store/sketch-codec.js';
export {
  layoutFor,
  numericQuantile,
  sketchNumbers,
  type HistogramLayout,
  type NumericSketch,
} from './sketches/numeric-sketch.js';
export { rollupWindow, type RollupContext, type RollupOutcome } from './workers/rollup-window.js';
export { AlertService, type AlertServiceDeps, type RuleOutcome } from './alerts/alert-service.js';
export { loadPerformanceSettings, processAlertsJob, type AlertsJobDeps } from './alerts/alerts-job.js';
export { loadAlertRules, parseAlertRules, type AlertRule } from './alerts/rules.js';
export { loadNotificationSettings, type NotificationSettings } from './alerts/notification-settings.js';
export { SIGNATURE_HEADER, TIMESTAMP_HEADER, signWebhookBody } from './alerts/webhook.js';
export {
  computePerformanceWindow,
  type PerformanceMetricDocument,
  type PerformanceSettings,
} from './performance/performance-window.js';
export {
  estimateCbpe,
  fitCbpe,
  CBPE_ASSUMPTIONS,
  type CbpeEstimate,
  type CbpeModel,
} from './performance/cbpe.js';
export { aurocWithDeLong, averagePrecision } from './performance/ranking-metrics.js';
export {
  readResultSubgroups,
  storeResultSubgroups,
  subgroupKeys,
  type SubgroupValues,
} from './subgroups/subgroups.js';
