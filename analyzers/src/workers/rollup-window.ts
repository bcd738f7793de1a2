/**
 * The ROLLUP_QUEUE job: sketches one model's results of one day, then merges the day sketches of the week
 * and month around it, and writes each window's metrics and the model summary.
 *
 * Rollups recompute from the day's results and merge sketches instead of adding deltas with $inc, so a job
 * that runs twice (a retry or a stalled job run again) writes the same documents, never double counts.
 */
import type { Logger } from '@monitormed/common';
import type Bull from 'bull';
import type { RollupWindowJob } from '../jobs/definitions.js';
import { mergeSketches, type FeatureSketch } from '../sketches/feature-sketch.js';
import { SketchMismatchError } from '../sketches/sketch-mismatch-error.js';
import type { MetricDocument } from '../store/documents.js';
import { ALL_SUBGROUP, type Granularity, type SketchDocument } from '../store/evaluation-documents.js';
import type { EvaluationStore } from '../store/evaluation-store.js';
import type { FeatureRow, ResultsStore } from '../store/results-store.js';
import { columnsOfRows, metricsOfSketch, sketchColumns } from '../store/sketch-metrics.js';
import { ANALYZER_VERSION } from '../fhir/extensions.js';
import { periodWindowOf, type PeriodWindow } from './windows.js';

/** Dependencies of the rollup job. */
export interface RollupContext {
  results: ResultsStore;
  evaluation: EvaluationStore;
  log: Logger;
  /**
   * Categorical input features whose values define subgroups, such as `sex`: each value `v` of feature `f`
   * gets its own sketches and metrics under subgroup `f=v`, beside `all`.
   */
  subgroupFeatures?: readonly string[];
  /**
   * Hook called with the model and day after every finished rollup, when the window's drift and rollup
   * metrics are stored. The analyzers queue the window's alert evaluation in it.
   */
  afterRollup?: (job: RollupWindowJob) => Promise<void>;
}

/**
 * Reads the subgroup features from ROLLUP_SUBGROUP_FEATURES, a comma-separated list of feature names.
 * @returns The names, empty when the variable is unset.
 */
export function loadSubgroupFeatures(env: Record<string, string | undefined> = process.env): string[] {
  return (env['ROLLUP_SUBGROUP_FEATURES'] ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

/** Splits rows into the `all` group and one group per value of each subgroup feature; missing values join no subgroup. */
function subgroupsOf(rows: readonly FeatureRow[], features: readonly string[]): Map<string, FeatureRow[]> {
  const groups = new Map<string, FeatureRow[]>([[ALL_SUBGROUP, [...rows]]]);
  for (const feature of features) {
    for (const row of rows) {
      const value = row.features[feature];
      if (value === null || value === undefined) {
        continue;
      }
      const key = `${feature}=${String(value)}`;
      const group = groups.get(key) ?? [];
      group.push(row);
      groups.set(key, group);
    }
  }
  return groups;
}

/** Outcome of one model version, stored by bull as part of the job's return value. */
export interface RollupOutcome {
  modelVersion: string;
  results: number;
  features: number;
}

// Results that arrive while a rollup runs are included by running it again, at most this many times.
const MAX_PASSES = 5;

/**
 * Rolls up every model version with results in the job's day, then calls `context.afterRollup`.
 * @returns One outcome per model version.
 */
export async function processRollupJob(
  context: RollupContext,
  job: Bull.Job<RollupWindowJob>
): Promise<RollupOutcome[]> {
  const outcomes = await rollupWindow(context, job.data);

  // A failure here fails the rollup, and its retry rewrites the same documents before calling again.
  await context.afterRollup?.(job.data);
  return outcomes;
}

/**
 * Rolls up every model version with results in a day; the body of {@link processRollupJob}.
 * @returns One outcome per model version.
 */
export async function rollupWindow(context: RollupContext, job: RollupWindowJob): Promise<RollupOutcome[]> {
  const { modelId, window } = job;
  const versions = await context.results.modelVersionsInWindow(modelId, window);
  const outcomes: RollupOutcome[] = [];
  for (const modelVersion of versions) {
    outcomes.push(await rollupUntilStable(context, modelId, modelVersion, window));
  }
  return outcomes;
}

async function rollupUntilStable(
  context: RollupContext,
  modelId: string,
  modelVersion: string,
  window: string
): Promise<RollupOutcome> {
  let outcome: RollupOutcome = { modelVersion, results: 0, features: 0 };
  for (let pass = 1; pass <= MAX_PASSES; pass += 1) {
    const before = await context.results.windowFingerprint(modelId, modelVersion, window);
    outcome = await rollupDay(context, modelId, modelVersion, window);
    const after = await context.results.windowFingerprint(modelId, modelVersion, window);
    if (before === after) {
      return outcome;
    }
    context.log.info({ modelId, window, pass }, 'Results arrived during the rollup; rolling up again');
  }
  return outcome;
}

async function rollupDay(
  context: RollupContext,
  modelId: string,
  modelVersion: string,
  window: string
): Promise<RollupOutcome> {
  const { results, evaluation, log } = context;
  const day = periodWindowOf(new Date(`${window}T00:00:00Z`), 'day');
  const rows = await results.featureRowsIn(modelId, modelVersion, [window]);
  const groups = subgroupsOf(rows, context.subgroupFeatures ?? []);
  let featureCount = 0;
  for (const [subgroup, groupRows] of groups) {
    const sketches = await sketchColumns(evaluation, modelId, modelVersion, columnsOfRows(groupRows));
    if (subgroup === ALL_SUBGROUP) {
      featureCount = sketches.size - 2;
    }
    await writeWindow(evaluation, modelId, modelVersion, 'day', day, sketches, subgroup);
  }

  // NOTE: a subgroup that disappears from a re-rolled day keeps its earlier day documents.
  const subgroups = [...groups.keys()];
  for (const period of ['week', 'month'] as const) {
    const periodWindow = periodWindowOf(day.start, period);
    for (const subgroup of subgroups) {
      const merged = await mergeDays(context, modelId, modelVersion, subgroup, periodWindow);
      await writeWindow(evaluation, modelId, modelVersion, period, periodWindow, merged, subgroup);
    }
  }

  await evaluation.updateSummary(modelId, modelVersion, window, rows.length);
  log.info(
    { modelId, window, count: rows.length, features: featureCount, subgroups: subgroups.length },
    'Rolled up a day window'
  );
  return { modelVersion, results: rows.length, features: featureCount };
}

/** Merges the day sketches of one subgroup inside a week or month, per feature. */
async function mergeDays(
  context: RollupContext,
  modelId: string,
  modelVersion: string,
  subgroup: string,
  periodWindow: PeriodWindow
): Promise<Map<string, FeatureSketch>> {
  const daySketches = await context.evaluation.findSketches({
    modelId,
    modelVersion,
    granularity: 'day',
    subgroup,
    from: periodWindow.start,
    to: periodWindow.end,
  });

  const merged = new Map<string, FeatureSketch>();
  for (const document of daySketches) {
    const previous = merged.get(document.feature);
    try {
      merged.set(
        document.feature,
        previous === undefined ? document.sketch : mergeSketches(previous, document.sketch)
      );
    } catch (err) {
      if (!(err instanceof SketchMismatchError)) {
        throw err;
      }
      context.log.warn(
        { modelId, feature: document.feature, window: document.window, err },
        'Day sketch does not merge; left out of the rollup'
      );
    }
  }
  return merged;
}

/**
 * Writes the sketches and metrics of one window and subgroup, in two batched round trips.
 * @param window - Key and start of the window; null start for the reference profile.
 * @param subgroup - Population subgroup, `all` by default.
 */
export async function writeWindow(
  evaluation: EvaluationStore,
  modelId: string,
  modelVersion: string,
  granularity: Granularity,
  window: Pick<PeriodWindow, 'key'> & { start: Date | null },
  sketches: ReadonlyMap<string, FeatureSketch>,
  subgroup: string = ALL_SUBGROUP
): Promise<void> {
  const now = new Date();
  const sketchDocuments: SketchDocument[] = [];
  const metricDocuments: MetricDocument[] = [];
  for (const [feature, sketch] of sketches) {
    sketchDocuments.push({
      modelId,
      modelVersion,
      feature,
      subgroup,
      granularity,
      window: window.key,
      windowStart: window.start,
      sketch,
      updatedAt: now,
    });
    for (const metric of metricsOfSketch(feature, sketch)) {
      metricDocuments.push({
        modelId,
        modelVersion,
        metric: metric.metric,
        subgroup,
        window: window.key,
        granularity,
        windowStart: window.start,
        value: metric.value,
        n: metric.n,
        ...(metric.sum === undefined ? {} : { sum: metric.sum }),
        computedAt: now,
        analyzerVersion: ANALYZER_VERSION,
      });
    }
  }
  await evaluation.upsertSketches(sketchDocuments);
  await evaluation.upsertMetrics(metricDocuments);
}
