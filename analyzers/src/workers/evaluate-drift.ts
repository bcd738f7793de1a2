/**
 * The DRIFT_QUEUE job: output drift of one model in one window.
 *
 * The reference is the model version's first `driftReferenceWindows` windows (by key), pooled. Windows inside
 * the reference are not tested. A later window W is tested with the two-sample KS test of W's scores against
 * the pooled reference scores; drift is detected when p < `driftPThreshold` and W has at least
 * `driftMinWindowN` results. PSI is recorded beside it. The status is written to Mongo, as DRIFT_EXTENSION
 * on every result of W, and as a model-drift Flag per result when drift is detected.
 *
 * Beside the output KS test, feature-drift.ts tests the output and every input feature with Evidently's
 * automatic test choice against the reference profile (or the same reference windows). Those verdicts are
 * stored in Mongo only. Each evaluation then schedules the window's rollup (rollup-window.ts).
 */
import { FLAG_CODES, type EvaluateDriftJob } from '@monitormed/common';
import type Bull from 'bull';
import {
  ANALYZER_VERSION,
  buildDriftExtension,
  hasSameDriftVerdict,
  replaceExtension,
  type DriftStatus,
} from '../fhir/extensions.js';
import { writeMetricObservations } from '../fhir/metric-observations.js';
import { buildMonitoringFlag, flagIdentifierQuery, flagIdentifierToken } from '../fhir/flags.js';
import { createFlagIfAbsent, retireFlags, updateObservationWithRetry } from '../fhir/gateway.js';
import { ksTwoSample } from '../stats/ks.js';
import { populationStabilityIndex } from '../stats/psi.js';
import { METRICS, type DriftWindowStatus } from '../store/documents.js';
import type { WindowResult } from '../store/results-store.js';
import { recordUncertaintyDrift } from '../uncertainty/uncertainty-drift-metrics.js';
import { ROLLUP_QUEUE } from '../jobs/definitions.js';
import { scheduleDriftEvaluation } from './analyze-result.js';
import type { WorkerContext } from './context.js';
import { evaluateFeatureDrift, type FeatureDriftOutcome } from './feature-drift.js';
import { periodWindowOf } from './windows.js';

/** Outcome of one model version in the window, stored by bull as part of the job's return value. */
export interface DriftOutcome {
  modelVersion: string;
  status: DriftWindowStatus;
  n: number;
  pValue?: number;
  /** Window fingerprint (result count and latest analysis time) that the stored verdict reflects. */
  fingerprint?: string;
  /** Dataset drift of the inputs and output, when the evaluation store is present and there was something to test. */
  featureDrift?: FeatureDriftOutcome;
}

// Results that arrive while an evaluation runs are evaluated by re-running it, at most this many times.
const MAX_PASSES = 5;

// Observation updates in flight at once, to keep the FHIR server responsive.
const WRITE_CONCURRENCY = 4;

/**
 * Evaluates drift of every model version that has results in the job's window.
 * @param context - Peers, settings and logger.
 * @param job - The bull job with model id and window.
 * @returns One outcome per model version.
 */
export async function processDriftJob(
  context: WorkerContext,
  job: Bull.Job<EvaluateDriftJob>
): Promise<DriftOutcome[]> {
  const { modelId, window } = job.data;
  const versions = await context.store.modelVersionsInWindow(modelId, window);

  const outcomes: DriftOutcome[] = [];
  for (const modelVersion of versions) {
    outcomes.push(await evaluateUntilStable(context, modelId, modelVersion, window));
  }

  for (const modelVersion of versions) {
    await writeWindowMetrics(context, modelId, modelVersion, window);
  }

  // The rollup reads the same results; its id is per model and day, so a burst of evaluations queues one.
  await context.jobs?.add(
    ROLLUP_QUEUE,
    { modelId, window },
    { delay: context.rollupDelayMs ?? context.settings.driftDebounceMs }
  );
  return outcomes;
}

/**
 * Evaluates one model version's window, and again while results kept arriving during the evaluation, so
 * the stored verdict counts them without waiting for their own scheduled evaluation.
 */
async function evaluateUntilStable(
  context: WorkerContext,
  modelId: string,
  modelVersion: string,
  window: string
): Promise<DriftOutcome> {
  let outcome: DriftOutcome | undefined;
  for (let pass = 1; pass <= MAX_PASSES; pass += 1) {
    const before = await context.store.windowFingerprint(modelId, modelVersion, window);
    outcome = await evaluateWindow(context, modelId, modelVersion, window);
    const after = await context.store.windowFingerprint(modelId, modelVersion, window);
    if (before === after) {
      return { ...outcome, fingerprint: after };
    }
    context.log.info(
      { modelId, window, pass },
      'Results arrived during the drift evaluation; evaluating again'
    );
  }

  // Still changing: release the worker. Without a fingerprint, rescheduleIfChanged evaluates it again.
  return outcome ?? { modelVersion, status: 'insufficient-data', n: 0 };
}

/**
 * Writes a model version's metrics in the window as FHIR metric Observations, in one transaction. The
 * metric documents in Mongo stay the record, so a failed write is logged and the next evaluation of the
 * window writes them again, instead of failing the drift job.
 */
async function writeWindowMetrics(
  context: WorkerContext,
  modelId: string,
  modelVersion: string,
  window: string
): Promise<void> {
  const deviceId = await context.store.deviceIdIn(modelId, modelVersion, window);
  if (deviceId === undefined) {
    context.log.warn(
      { modelId, window },
      'No model Device recorded for the window; metric Observations not written'
    );
    return;
  }

  // NOTE: metrics stored after this point, such as the rollup's and the performance job's, reach FHIR only
  // at the window's next drift evaluation.
  try {
    const records = await context.store.metricsInWindow(modelId, modelVersion, window);
    const count = await writeMetricObservations(context.fhir, records, `Device/${deviceId}`);
    context.log.info({ modelId, window, deviceId, count }, 'Wrote metric Observations');
  } catch (err) {
    context.log.error({ err, modelId, window, deviceId }, 'Writing metric Observations failed');
  }
}

/**
 * Schedules another evaluation of a finished job's window when results arrived after its last check.
 * It runs once bull has completed and removed the job, because until then the job id is taken and bull
 * drops the scheduling that such a result's analysis attempts.
 * @param context - Peers, settings and logger.
 * @param job - Model and window of the finished job.
 * @param outcomes - The job's outcomes, with the fingerprint each verdict reflects.
 */
export async function rescheduleIfChanged(
  context: WorkerContext,
  job: EvaluateDriftJob,
  outcomes: readonly DriftOutcome[]
): Promise<void> {
  for (const outcome of outcomes) {
    const current = await context.store.windowFingerprint(job.modelId, outcome.modelVersion, job.window);
    if (current !== outcome.fingerprint) {
      context.log.info(
        { modelId: job.modelId, window: job.window },
        'Results arrived after the drift evaluation; scheduling another'
      );
      await scheduleDriftEvaluation(context, job);
      return;
    }
  }
}

async function evaluateWindow(
  context: WorkerContext,
  modelId: string,
  modelVersion: string,
  window: string
): Promise<DriftOutcome> {
  const { store, settings, log } = context;
  const windows = await store.windows(modelId, modelVersion);
  const referenceWindows = windows.slice(0, settings.driftReferenceWindows);
  const current = await store.resultsIn(modelId, modelVersion, [window]);
  const previous = await store.findMetric(modelId, modelVersion, METRICS.outputDriftKs, window);
  const hadDrift = previous?.detected === true;
  const base = {
    modelId,
    modelVersion,
    subgroup: 'all',
    window,
    granularity: 'day' as const,
    windowStart: periodWindowOf(new Date(`${window}T00:00:00Z`), 'day').start,
    n: current.length,
    computedAt: new Date(),
    analyzerVersion: ANALYZER_VERSION,
  };

  // FerretDB has no $avg, so the mean is computed here.
  const entropyMean =
    current.length === 0 ? null : current.reduce((sum, result) => sum + result.entropy, 0) / current.length;
  await store.upsertMetric({ ...base, metric: METRICS.uncertaintyEntropyMean, value: entropyMean });

  if (referenceWindows.includes(window)) {
    const referenceFields = { status: 'reference' as const, referenceWindows, value: null };
    await store.upsertMetric({
      ...base,
      ...referenceFields,
      metric: METRICS.outputDriftKs,
      statistic: null,
      pValueMethod: null,
      detected: false,
      threshold: settings.driftPThreshold,
      minN: settings.driftMinWindowN,
    });
    await store.upsertMetric({ ...base, ...referenceFields, metric: METRICS.outputPsi });

    if (hadDrift) {
      await retireDriftFlags(context, current);
    }

    // A changed reference changes every later window's test, so evaluate those again.
    for (const laterWindow of windows.slice(settings.driftReferenceWindows)) {
      await scheduleDriftEvaluation(context, { modelId, window: laterWindow });
    }
    log.info({ modelId, window, n: current.length }, 'Window is part of the drift reference; not tested');
    return { modelVersion, status: 'reference', n: current.length };
  }

  const referenceResults = await store.resultsIn(modelId, modelVersion, referenceWindows);
  const currentScores = current.map((result) => result.score);
  const referenceScores = referenceResults.map((result) => result.score);

  const ks = ksTwoSample(currentScores, referenceScores);
  const enough = current.length >= settings.driftMinWindowN;
  const detected = enough && ks.pValue < settings.driftPThreshold;
  let status: DriftWindowStatus = 'no-drift';
  if (!enough) {
    status = 'insufficient-data';
  } else if (detected) {
    status = 'drift';
  }
  const psi = populationStabilityIndex(referenceScores, currentScores);

  const shared = { status, referenceN: referenceScores.length, referenceWindows };
  await store.upsertMetric({
    ...base,
    ...shared,
    metric: METRICS.outputDriftKs,
    value: ks.pValue,
    statistic: ks.statistic,
    pValueMethod: ks.method,
    threshold: settings.driftPThreshold,
    detected,
    minN: settings.driftMinWindowN,
  });
  await store.upsertMetric({
    ...base,
    ...shared,
    metric: METRICS.outputPsi,
    value: psi.value,
    bins: psi.binEdges.length - 1,
  });
  await recordUncertaintyDrift(store, base, current, referenceResults, {
    pThreshold: settings.driftPThreshold,
    minN: settings.driftMinWindowN,
    referenceWindows,
  });

  const driftStatus: DriftStatus = {
    statistic: ks.statistic,
    pValue: ks.pValue,
    threshold: settings.driftPThreshold,
    window,
    reference: { windows: referenceWindows, n: referenceScores.length },
    detected,
  };
  await forEachLimited(current, WRITE_CONCURRENCY, (result) =>
    writeDriftStatus(context, result, driftStatus)
  );
  if (hadDrift && !detected) {
    await retireDriftFlags(context, current);
  }

  log.info({ modelId, window, n: current.length, status, pValue: ks.pValue }, 'Evaluated output drift');
  const featureDrift = await evaluateFeatureDrift(context, modelId, modelVersion, window, referenceWindows);
  return {
    modelVersion,
    status,
    n: current.length,
    pValue: ks.pValue,
    ...(featureDrift === undefined ? {} : { featureDrift }),
  };
}

/** Writes DRIFT_EXTENSION on one result when its verdict changed, and the model-drift Flag on drift. */
async function writeDriftStatus(
  context: WorkerContext,
  result: WindowResult,
  status: DriftStatus
): Promise<void> {
  const extension = buildDriftExtension(status);
  await updateObservationWithRetry(context.fhir, result.observationId, (observation) =>
    hasSameDriftVerdict(observation.extension, extension)
      ? undefined
      : { ...observation, extension: replaceExtension(observation.extension, extension) }
  );

  if (status.detected && result.patientId !== undefined) {
    await createFlagIfAbsent(
      context.fhir,
      buildMonitoringFlag(
        {
          observationId: result.observationId,
          patientId: result.patientId,
          effective: (result.effective ?? new Date()).toISOString(),
        },
        FLAG_CODES.modelDrift
      ),
      flagIdentifierQuery(result.observationId, FLAG_CODES.modelDrift.code)
    );
  }
}

/**
 * Sets the model-drift Flags of a window's results to inactive, after an evaluation that no longer detects
 * drift there (for example because more results arrived or the reference changed).
 */
async function retireDriftFlags(context: WorkerContext, results: readonly WindowResult[]): Promise<void> {
  let retired = 0;
  await forEachLimited(results, WRITE_CONCURRENCY, async (result) => {
    retired += await retireFlags(
      context.fhir,
      flagIdentifierToken(result.observationId, FLAG_CODES.modelDrift.code)
    );
  });
  context.log.info({ count: retired }, 'Retired model-drift Flags of a window without drift');
}

async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  action: (item: T) => Promise<void>
): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await action(item);
    }
  });
  await Promise.all(runners);
}
