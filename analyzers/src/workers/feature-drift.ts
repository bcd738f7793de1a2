/**
 * Drift of a window's inputs and output against the model version's reference, with Evidently's automatic
 * test choice per feature (stats/select-test.ts), the share of drifted features, an optional p-value
 * correction, and NannyML-style thresholds as a per-model alternative. Missing-value rates and unseen
 * categories are stored with each feature's result.
 *
 * The reference is the uploaded or period reference profile when one exists (its sketches), otherwise the
 * pooled raw results of the first reference windows. Results only take part with the features their
 * documents carry in `features`.
 */
import { ANALYZER_VERSION } from '../fhir/extensions.js';
import { sampleOf, type FeatureSketch } from '../sketches/feature-sketch.js';
import type { ColumnType, ColumnValue } from '../stats/binned-shares.js';
import {
  evaluateDatasetDrift,
  withoutMissing,
  type ColumnDriftResult,
  type ColumnInput,
} from '../stats/select-test.js';
import { getStatTest } from '../stats/stat-tests.js';
import {
  isOutsideLimits,
  standardDeviationThreshold,
  type ThresholdLimits,
} from '../stats/standard-deviation-threshold.js';
import { EVALUATION_METRICS, OUTPUT_FEATURES, REFERENCE_WINDOW } from '../store/evaluation-documents.js';
import { kindOfValues, type EvaluationStore } from '../store/evaluation-store.js';
import type { DriftWindowStatus } from '../store/documents.js';
import type { ResultsStore } from '../store/results-store.js';
import { columnsOfRows, type ColumnValues } from '../store/sketch-metrics.js';
import type { WorkerContext } from './context.js';
import { loadFeatureDriftSettings, type ThresholdMode } from './drift-settings.js';
import { periodWindowOf } from './windows.js';

/** Samples of one reference: the whole, and its chunks for NannyML-style thresholds. */
interface ReferenceSamples {
  whole: Map<string, (ColumnValue | null)[]>;
  chunks: Map<string, (ColumnValue | null)[]>[];
  source: 'profile' | 'windows';
}

/** Dataset verdict of one window, stored by bull as part of the drift job's return value. */
export interface FeatureDriftOutcome {
  features: number;
  driftedFeatures: number;
  share: number;
  drifted: boolean;
  thresholdMode: ThresholdMode;
}

function sketchSamples(
  sketches: readonly { feature: string; sketch: FeatureSketch }[]
): Map<string, (ColumnValue | null)[]> {
  const samples = new Map<string, (ColumnValue | null)[]>();
  for (const { feature, sketch } of sketches) {
    // Missing values are kept as null, so the missing rate of the sample equals the sketch's.
    samples.set(feature, [...sampleOf(sketch), ...new Array<null>(sketch.missing).fill(null)]);
  }
  return samples;
}

function withoutEntropy(columns: ColumnValues): Map<string, (ColumnValue | null)[]> {
  // Entropy is a function of the score, so testing it again would count one change twice.
  const copy = new Map(columns);
  copy.delete(OUTPUT_FEATURES.entropy);
  return copy;
}

async function loadReference(
  evaluation: EvaluationStore,
  results: ResultsStore,
  modelId: string,
  modelVersion: string,
  referenceWindows: readonly string[]
): Promise<ReferenceSamples> {
  const profile = await evaluation.findReferenceProfile(modelId, modelVersion);
  if (profile !== undefined) {
    const whole = await evaluation.findSketches({
      modelId,
      modelVersion,
      granularity: 'reference',
      windows: [REFERENCE_WINDOW],
    });
    const chunkDocuments = await evaluation.findSketches({
      modelId,
      modelVersion,
      granularity: 'reference-chunk',
      windows: profile.chunkKeys,
    });
    const chunks = profile.chunkKeys.map((key) =>
      sketchSamples(chunkDocuments.filter((document) => document.window === key))
    );
    return {
      whole: withoutEntropy(sketchSamples(whole)),
      chunks: chunks.map(withoutEntropy),
      source: 'profile',
    };
  }

  const rows = await results.featureRowsIn(modelId, modelVersion, referenceWindows);
  const chunks = referenceWindows.map((window) =>
    withoutEntropy(
      columnsOfRows(
        rows.filter(
          (row) => row.effective !== undefined && periodWindowOf(row.effective, 'day').key === window
        )
      )
    )
  );
  return { whole: withoutEntropy(columnsOfRows(rows)), chunks, source: 'windows' };
}

function columnTypeOf(values: readonly (ColumnValue | null)[]): ColumnType {
  return kindOfValues(values) === 'numeric' ? 'numerical' : 'categorical';
}

/** Returns the value NannyML-style thresholds apply to: |statistic| of p-value tests, the distance otherwise. */
function thresholdMetric(result: Pick<ColumnDriftResult, 'kind' | 'statistic' | 'distance'>): number {
  const value = result.kind === 'p-value' ? result.statistic : result.distance;
  return value === null ? Number.NaN : Math.abs(value);
}

/** Limits from the reference chunks: each chunk tested against the whole reference with the column's test. */
function chunkLimits(
  input: ColumnInput,
  result: ColumnDriftResult,
  chunks: ReferenceSamples['chunks']
): ThresholdLimits | null {
  const test = getStatTest(result.test);
  const reference = withoutMissing(input.reference);
  const values: number[] = [];
  for (const chunk of chunks) {
    const chunkValues = (chunk.get(input.name) ?? []).filter((value): value is ColumnValue => value !== null);
    if (chunkValues.length > 0) {
      const { statistic, score } = test.run(reference, chunkValues, input.type);
      values.push(
        thresholdMetric({ kind: test.kind, statistic, distance: test.kind === 'distance' ? score : null })
      );
    }
  }
  const finite = values.filter((value) => Number.isFinite(value));
  return finite.length === 0 ? null : standardDeviationThreshold(finite, { lowerValueLimit: 0 });
}

function windowStatus(enough: boolean, detected: boolean): DriftWindowStatus {
  if (!enough) {
    return 'insufficient-data';
  }
  return detected ? 'drift' : 'no-drift';
}

/**
 * Tests a window's features and output against the reference and writes one `feature-drift:<name>` metric
 * per feature and the `feature-drift-share` metric.
 * @returns The dataset verdict, or undefined when the context has no evaluation store or nothing to test.
 */
export async function evaluateFeatureDrift(
  context: WorkerContext,
  modelId: string,
  modelVersion: string,
  window: string,
  referenceWindows: readonly string[]
): Promise<FeatureDriftOutcome | undefined> {
  const { evaluation, store, settings, log } = context;
  if (evaluation === undefined) {
    return undefined;
  }
  const driftSettings = loadFeatureDriftSettings();
  const thresholdMode = driftSettings.thresholdModeByModel.get(modelId) ?? driftSettings.thresholdMode;

  const reference = await loadReference(evaluation, store, modelId, modelVersion, referenceWindows);
  const currentRows = await store.featureRowsIn(modelId, modelVersion, [window]);
  const current = withoutEntropy(columnsOfRows(currentRows));

  const inputs: ColumnInput[] = [];
  const skipped: string[] = [];
  for (const [name, referenceValues] of reference.whole) {
    const currentValues = current.get(name) ?? currentRows.map(() => null);
    const hasReference = referenceValues.some((value) => value !== null);
    const hasCurrent = currentValues.some((value) => value !== null);
    if (!hasReference || !hasCurrent) {
      skipped.push(name);
      continue;
    }
    const type = columnTypeOf(referenceValues);
    const toType = (value: ColumnValue | null): ColumnValue | null =>
      value === null || type === 'numerical' ? value : String(value);
    inputs.push({ name, type, reference: referenceValues.map(toType), current: currentValues.map(toType) });
  }
  if (inputs.length === 0) {
    log.info(
      { modelId, window, skipped: skipped.length },
      'No feature with values in both reference and window; feature drift not tested'
    );
    return undefined;
  }

  const report = evaluateDatasetDrift(inputs, {
    correction: driftSettings.correction,
    driftShare: driftSettings.driftShare,
  });
  const enough = currentRows.length >= settings.driftMinWindowN;
  const windowStart = periodWindowOf(new Date(`${window}T00:00:00Z`), 'day').start;
  const base = {
    modelId,
    modelVersion,
    subgroup: 'all',
    window,
    granularity: 'day' as const,
    windowStart,
    computedAt: new Date(),
    analyzerVersion: ANALYZER_VERSION,
  };

  let driftedFeatures = 0;
  for (const [index, result] of report.columns.entries()) {
    const input = inputs[index];
    if (input === undefined) {
      continue;
    }
    let detected = result.drifted;
    let limits: ThresholdLimits | null = null;
    if (thresholdMode === 'nannyml') {
      limits = chunkLimits(input, result, reference.chunks);
      detected = limits !== null && isOutsideLimits(thresholdMetric(result), limits);
    }
    detected &&= enough;
    if (detected) {
      driftedFeatures += 1;
    }

    const total = (values: { length: number }): number => Math.max(1, values.length);
    await evaluation.upsertMetric({
      ...base,
      metric: `feature-drift:${result.name}`,
      value: result.kind === 'p-value' ? result.pValue : result.distance,
      n: result.nCurrent,
      referenceN: result.nReference,
      status: windowStatus(enough, detected),
      test: result.test,
      statistic: result.statistic,
      threshold: result.threshold,
      thresholdMode,
      lowerThreshold: limits?.lower ?? null,
      upperThreshold: limits?.upper ?? null,
      detected,
      minN: settings.driftMinWindowN,
      missingRateReference: result.missingReference / total(input.reference),
      missingRateCurrent: result.missingCurrent / total(input.current),
      ...(result.unseenCategories === null ? {} : { unseenCategories: result.unseenCategories }),
    });
  }

  const share = driftedFeatures / report.columns.length;
  const drifted = enough && share >= driftSettings.driftShare;
  await evaluation.upsertMetric({
    ...base,
    metric: EVALUATION_METRICS.featureDriftShare,
    value: share,
    n: currentRows.length,
    status: windowStatus(enough, drifted),
    threshold: driftSettings.driftShare,
    thresholdMode,
    detected: drifted,
    minN: settings.driftMinWindowN,
  });
  log.info(
    { modelId, window, features: report.columns.length, driftedFeatures, reference: reference.source },
    'Evaluated feature drift'
  );
  return { features: report.columns.length, driftedFeatures, share, drifted, thresholdMode };
}
