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
import { ALL_SUBGROUP, type Granularity } from '../store/evaluation-documents.js';
import type { EvaluationStore } from '../store/evaluation-store.js';
import type { ResultsStore } from '../store/results-store.js';
import { columnsOfRows, metricsOfSketch, sketchColumns } from '../store/sketch-metrics.js';
import { ANALYZER_VERSION } from '../fhir/extensions.js';
import { periodWindowOf, type PeriodWindow } from './windows.js';

/** Dependencies of the rollup job. */
export interface RollupContext {
  results: ResultsStore;
  evaluation: EvaluationStore;
  log: Logger;
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
 * Rolls up every model version with results in the job's day.
 * @returns One outcome per model version.
 */
export async function processRollupJob(
  context: RollupContext,
  job: Bull.Job<RollupWindowJob>
): Promise<RollupOutcome[]> {
  return rollupWindow(context, job.data);
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
  const sketches = await sketchColumns(evaluation, modelId, modelVersion, columnsOfRows(rows));
  await writeWindow(evaluation, modelId, modelVersion, 'day', day, sketches);

  for (const period of ['week', 'month'] as const) {
    const periodWindow = periodWindowOf(day.start, period);
    const daySketches = await evaluation.findSketches({
      modelId,
      modelVersion,
      granularity: 'day',
      subgroup: ALL_SUBGROUP,
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
        log.warn(
          { modelId, feature: document.feature, window: document.window, err },
          'Day sketch does not merge; left out of the rollup'
        );
      }
    }
    await writeWindow(evaluation, modelId, modelVersion, period, periodWindow, merged);
  }

  await evaluation.updateSummary(modelId, modelVersion, window, rows.length);
  log.info({ modelId, window, count: rows.length, features: sketches.size }, 'Rolled up a day window');
  return { modelVersion, results: rows.length, features: sketches.size - 2 };
}

/**
 * Writes the sketches and metrics of one window.
 * @param window - Key and start of the window; null start for the reference profile.
 */
export async function writeWindow(
  evaluation: EvaluationStore,
  modelId: string,
  modelVersion: string,
  granularity: Granularity,
  window: Pick<PeriodWindow, 'key'> & { start: Date | null },
  sketches: ReadonlyMap<string, FeatureSketch>
): Promise<void> {
  const now = new Date();
  for (const [feature, sketch] of sketches) {
    await evaluation.upsertSketch({
      modelId,
      modelVersion,
      feature,
      subgroup: ALL_SUBGROUP,
      granularity,
      window: window.key,
      windowStart: window.start,
      sketch,
      updatedAt: now,
    });
    for (const metric of metricsOfSketch(feature, sketch)) {
      await evaluation.upsertMetric({
        modelId,
        modelVersion,
        metric: metric.metric,
        subgroup: ALL_SUBGROUP,
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
}
