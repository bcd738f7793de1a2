/**
 * Names and payloads of the bull queues that connect fhir-server-ext to the analyzers.
 * Job ids are derived from the payload so that a redelivered event never runs twice.
 */

/** Queue of AI results waiting to be analysed. */
export const ANALYZE_QUEUE = 'monitormed-analyze-result';

/** Queue of (model, window) drift evaluations. */
export const DRIFT_QUEUE = 'monitormed-evaluate-drift';

/** One AI result to analyse, identified by its FHIR resource version. */
export interface AnalyzeResultJob {
  resourceType: 'Observation';
  id: string;
  /** The `meta.versionId` delivered; the worker reads the current version from the server. */
  versionId: string;
}

/** One drift evaluation of a model in one window. */
export interface EvaluateDriftJob {
  /** Value of the model's identifier in {@link MODEL_ID_SYSTEM}. */
  modelId: string;
  /** Window key, a UTC day such as `2026-03-14`. */
  window: string;
}

/**
 * Builds the bull job id of an analysis, so that each resource version is analysed once.
 * @param job - The analysis payload.
 * @returns A job id such as `Observation/12/_history/3`.
 */
export function analyzeJobId(job: AnalyzeResultJob): string {
  return `${job.resourceType}/${job.id}/_history/${job.versionId}`;
}

/**
 * Builds the bull job id of a drift evaluation.
 * @param job - The drift payload.
 * @returns A job id such as `drift/sepsis-risk/2026-03-14`.
 */
export function driftJobId(job: EvaluateDriftJob): string {
  return `drift/${job.modelId}/${job.window}`;
}
