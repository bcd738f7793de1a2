/**
 * Performance metrics of one model and daily window, per subgroup. They are written to the metrics
 * collection under the evaluation store's key (model, version, metric, subgroup, window). Labelled metrics
 * come from the ground-truth labels, CBPE estimates from the window's unlabelled scores, and the override
 * rate from the CDS Hooks feedback.
 */
import {
  COLLECTIONS,
  LABEL_COLLECTIONS,
  readLabels,
  readOverrideRates,
  type AiModelDefinition,
  type FhirClient,
  type LabelDocument,
} from '@monitormed/common';
import type { Patient } from '@medplum/fhirtypes';
import { readObservation } from '../fhir/gateway.js';
import type { Db } from 'mongodb';
import {
  readResultSubgroups,
  storeResultSubgroups,
  subgroupKeys,
  type SubgroupValues,
} from '../subgroups/subgroups.js';
import { estimateCbpe, fitCbpe, type CbpeModel, type EstimatedMetric } from './cbpe.js';
import { aurocWithDeLong, averagePrecision } from './ranking-metrics.js';
import {
  brierScore,
  calibrationFit,
  expectedCalibrationError,
  thresholdMetrics,
  wilsonProportion,
  type Proportion,
} from './threshold-metrics.js';

/** Version written on every performance metric document. */
export const PERFORMANCE_ANALYZER_VERSION = 'performance-1.0.0';

/** Settings of the performance job. */
export interface PerformanceSettings {
  /** Below this many labelled results (or scores, for CBPE), a subgroup's window is `insufficient-data`. */
  minN: number;
  /** Equal-width bins of the expected calibration error. */
  eceBins: number;
  /** Lower bounds of the age bands in years; DEFAULT_AGE_BANDS of subgroups.ts when absent. */
  ageBands?: readonly number[];
  /** Inclusive UTC days of the labelled reference period that CBPE is fitted on; no CBPE without it. */
  cbpeReference?: { fromDay: string; toDay: string };
}

/** One performance metric document in COLLECTIONS.metrics. */
export interface PerformanceMetricDocument {
  modelId: string;
  modelVersion: string;
  metric: string;
  subgroup: string;
  granularity: 'day';
  window: string;
  windowStart: Date;
  value: number | null;
  /** 95% interval (Wilson, DeLong or CBPE ± 3 sampling errors), when the metric has one. */
  lower: number | null;
  upper: number | null;
  /** Labelled results (or scores, for CBPE and override counts) behind the value. */
  n: number;
  positives?: number;
  status: 'ok' | 'insufficient-data';
  /** Labels left out because they are `uncertain` or still `unknown`. */
  excludedUncertain?: number;
  excludedUnknown?: number;
  /** Method notes, such as CBPE's assumptions or the ECE bins. */
  method?: string;
  assumptions?: readonly string[];
  computedAt: Date;
  analyzerVersion: string;
}

/** Fields of the AI result documents that the job reads. */
interface ResultRow {
  observationId: string;
  score?: number;
  subgroups?: SubgroupValues;
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) {
    return null;
  }
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? 0)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** Groups items under every subgroup key of their result. */
function bySubgroup<T>(
  items: readonly T[],
  subgroupsOf: (item: T) => SubgroupValues | undefined
): Map<string, T[]> {
  const groups = new Map<string, T[]>([['all', []]]);
  for (const item of items) {
    for (const key of subgroupKeys(subgroupsOf(item))) {
      const group = groups.get(key) ?? [];
      group.push(item);
      groups.set(key, group);
    }
  }
  return groups;
}

/** Computes the labelled metrics of one subgroup as metric name → value, interval and n. */
function labelledMetrics(
  labels: readonly LabelDocument[],
  model: AiModelDefinition,
  settings: PerformanceSettings
): Partial<PerformanceMetricDocument>[] {
  const scores = labels.map((label) => label.score);
  const truth = labels.map((label): 0 | 1 => (label.label === 'positive' ? 1 : 0));
  const positives = truth.filter((value) => value === 1).length;
  const n = labels.length;
  const base = { n, positives };

  const proportion = (metric: string, value: Proportion): Partial<PerformanceMetricDocument> => ({
    metric,
    value: value.value,
    lower: value.lower,
    upper: value.upper,
    n: value.n,
    positives,
    method: `Wilson 95% interval, positive at score >= ${String(model.positiveThreshold)}`,
  });

  const auroc = aurocWithDeLong(scores, truth);
  const threshold = thresholdMetrics(scores, truth, model.positiveThreshold);
  const ece = expectedCalibrationError(scores, truth, settings.eceBins);
  const calibration = calibrationFit(scores, truth);
  const latencyHours = labels.flatMap((label) =>
    label.latencyMs === undefined ? [] : [label.latencyMs / 3_600_000]
  );
  return [
    {
      ...base,
      metric: 'performance-auroc',
      value: auroc?.auroc ?? null,
      lower: auroc?.lower ?? null,
      upper: auroc?.upper ?? null,
      method: 'DeLong 95% interval',
    },
    { ...base, metric: 'performance-average-precision', value: averagePrecision(scores, truth) ?? null },
    proportion('performance-sensitivity', threshold.sensitivity),
    proportion('performance-specificity', threshold.specificity),
    proportion('performance-ppv', threshold.ppv),
    proportion('performance-npv', threshold.npv),
    { ...base, metric: 'performance-brier', value: brierScore(scores, truth) ?? null },
    {
      ...base,
      metric: 'performance-ece',
      value: ece?.ece ?? null,
      method: `${String(settings.eceBins)} equal-width bins`,
    },
    {
      ...base,
      metric: 'performance-calibration-slope',
      value: calibration?.slope ?? null,
      method: 'logistic regression of the label on logit(p)',
    },
    {
      ...base,
      metric: 'performance-calibration-intercept',
      value: calibration?.intercept ?? null,
      method: 'logistic regression of the label on logit(p)',
    },
    { ...base, metric: 'label-latency-hours-median', value: median(latencyHours) },
  ];
}

function cbpeMetrics(model: CbpeModel, scores: readonly number[]): Partial<PerformanceMetricDocument>[] {
  const estimate = estimateCbpe(model, scores);
  const entry = (metric: string, value: EstimatedMetric): Partial<PerformanceMetricDocument> => ({
    metric,
    value: value.value,
    lower: value.lower,
    upper: value.upper,
    n: estimate.n,
    method: `CBPE with isotonic calibration on ${String(model.referenceN)} labelled reference results; band = estimate ± 3 sampling errors`,
    assumptions: estimate.assumptions,
  });
  return [
    entry('cbpe-auroc', estimate.auroc),
    entry('cbpe-sensitivity', estimate.sensitivity),
    entry('cbpe-specificity', estimate.specificity),
    entry('cbpe-ppv', estimate.ppv),
    entry('cbpe-npv', estimate.npv),
    entry('cbpe-accuracy', estimate.accuracy),
  ];
}

/**
 * Reads and stores the subgroups of results that have none yet, so each result is read from FHIR once.
 * A result whose Observation is gone keeps no subgroups and counts only in `all`.
 */
async function fillSubgroups(
  db: Db,
  fhir: FhirClient,
  results: ResultRow[],
  ageBands: readonly number[] | undefined
): Promise<void> {
  const patientCache = new Map<string, Patient | undefined>();
  for (const result of results) {
    if (result.subgroups !== undefined) {
      continue;
    }
    const observation = await readObservation(fhir, result.observationId);
    if (observation === undefined) {
      continue;
    }
    result.subgroups = await readResultSubgroups(fhir, observation, ageBands, patientCache);
    await storeResultSubgroups(db, result.observationId, result.subgroups);
  }
}

/**
 * Computes and stores the performance metrics of a model's daily window.
 * @param db - The MonitorMed database.
 * @param model - The model definition (version and positiveThreshold).
 * @param window - UTC day `YYYY-MM-DD` of the AI results' effective time.
 * @param settings - Minimum n, ECE bins and the CBPE reference period.
 * @param fhir - When given, results without `subgroups` get them read from FHIR and stored first.
 * @returns The documents written.
 */
export async function computePerformanceWindow(
  db: Db,
  model: AiModelDefinition,
  window: string,
  settings: PerformanceSettings,
  fhir?: FhirClient
): Promise<PerformanceMetricDocument[]> {
  const computedAt = new Date();
  const windowStart = new Date(`${window}T00:00:00.000Z`);
  const results = await db
    .collection<ResultRow & { modelId: string; window: string; status: string }>(COLLECTIONS.aiResults)
    .find(
      { modelId: model.modelId, window, status: 'analyzed' },
      { projection: { _id: 0, observationId: 1, score: 1, subgroups: 1 } }
    )
    .toArray();
  if (fhir !== undefined) {
    await fillSubgroups(db, fhir, results, settings.ageBands);
  }
  const subgroupsById = new Map(results.map((result) => [result.observationId, result.subgroups]));

  // Labels of the window; uncertain and unknown ones are counted and left out.
  const labels = await readLabels(db, { modelId: model.modelId, fromDay: window, toDay: window });
  const labelCollection = db.collection<LabelDocument>(LABEL_COLLECTIONS.labels);
  const excludedUncertain = await labelCollection.countDocuments({
    modelId: model.modelId,
    day: window,
    label: 'uncertain',
  });
  const excludedUnknown = await labelCollection.countDocuments({
    modelId: model.modelId,
    day: window,
    label: 'unknown',
  });

  const documents: PerformanceMetricDocument[] = [];
  const add = (subgroup: string, partial: Partial<PerformanceMetricDocument>, enough: boolean): void => {
    documents.push({
      modelId: model.modelId,
      modelVersion: model.version,
      metric: partial.metric ?? '',
      subgroup,
      granularity: 'day',
      window,
      windowStart,
      value: enough ? (partial.value ?? null) : null,
      lower: enough ? (partial.lower ?? null) : null,
      upper: enough ? (partial.upper ?? null) : null,
      n: partial.n ?? 0,
      ...(partial.positives === undefined ? {} : { positives: partial.positives }),
      status: enough ? 'ok' : 'insufficient-data',
      ...(partial.method === undefined ? {} : { method: partial.method }),
      ...(partial.assumptions === undefined ? {} : { assumptions: partial.assumptions }),
      computedAt,
      analyzerVersion: PERFORMANCE_ANALYZER_VERSION,
    });
  };

  for (const [subgroup, group] of bySubgroup(labels, (label) => subgroupsById.get(label._id))) {
    // Below minN the value is stored as null with status insufficient-data, so no alert reads it.
    const enough = group.length >= settings.minN;
    for (const metric of labelledMetrics(group, model, settings)) {
      add(subgroup, metric, enough);
    }
  }
  for (const document of documents.filter((entry) => entry.subgroup === 'all')) {
    document.excludedUncertain = excludedUncertain;
    document.excludedUnknown = excludedUnknown;
  }

  if (settings.cbpeReference !== undefined) {
    const reference = await readLabels(db, { modelId: model.modelId, ...settings.cbpeReference });
    const referencePositives = reference.filter((label) => label.label === 'positive').length;
    if (referencePositives > 0 && referencePositives < reference.length) {
      const cbpe = fitCbpe(
        reference.map((label) => label.score),
        reference.map((label): 0 | 1 => (label.label === 'positive' ? 1 : 0)),
        model.positiveThreshold
      );
      const scored = results.flatMap((result) =>
        result.score === undefined ? [] : [{ score: result.score, subgroups: result.subgroups }]
      );
      for (const [subgroup, group] of bySubgroup(scored, (result) => result.subgroups)) {
        const enough = group.length >= settings.minN;
        for (const metric of cbpeMetrics(
          cbpe,
          group.map((result) => result.score)
        )) {
          add(subgroup, metric, enough);
        }
      }
    }
  }

  // Override rate from CDS Hooks feedback, for the whole population only (cards carry no subgroup).
  const [override] = await readOverrideRates(db, { modelId: model.modelId, fromDay: window, toDay: window });
  if (override !== undefined) {
    const rate = wilsonProportion(override.overridden, override.accepted + override.overridden);
    add(
      'all',
      {
        metric: 'override-rate',
        value: rate.value,
        lower: rate.lower,
        upper: rate.upper,
        n: rate.n,
        method: 'overridden / (accepted + overridden), Wilson 95% interval',
      },
      rate.n >= settings.minN
    );
  }

  const metrics = db.collection<PerformanceMetricDocument>(COLLECTIONS.metrics);
  for (const document of documents) {
    const { modelId, modelVersion, metric, subgroup, window: key } = document;
    await metrics.updateOne(
      { modelId, modelVersion, metric, subgroup, window: key },
      { $set: document },
      { upsert: true }
    );
  }
  return documents;
}
