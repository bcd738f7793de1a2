/**
 * The ANALYZE_QUEUE job: computes the uncertainty of one AI result, stores it, flags high uncertainty and
 * schedules the drift evaluation of the result's window.
 */
import type { Observation } from '@medplum/fhirtypes';
import {
  driftJobId,
  FLAG_CODES,
  hasAiLabel,
  type AnalyzeResultJob,
  type EvaluateDriftJob,
} from '@monitormed/common';
import type Bull from 'bull';
import {
  ANALYZER_VERSION,
  buildDriftExtension,
  buildUncertaintyExtension,
  hasEqualExtension,
  readUncertainty,
  replaceExtension,
} from '../fhir/extensions.js';
import { buildMonitoringFlag, flagIdentifierQuery } from '../fhir/flags.js';
import { createFlagIfAbsent, readObservation, updateObservationWithRetry } from '../fhir/gateway.js';
import { InvalidResultError } from '../invalid-result-error.js';
import { isProbability } from '../stats/entropy.js';
import { METRICS, type AiResultDocument } from '../store/documents.js';
import { featureSpecFor } from '../surrogate/features.js';
import { gatherInputs } from '../surrogate/pairs.js';
import { assessUncertainty, type UncertaintyRule } from '../uncertainty/high-uncertainty.js';
import type { McUncertainty } from '../uncertainty/surrogate-uncertainty.js';
import type { WorkerContext } from './context.js';
import { resolveResultModel, type ResultModel } from './model-resolution.js';
import { windowOf } from './windows.js';

/** Result summary of one analysis, stored by bull as the job's return value. */
export interface AnalyzeOutcome {
  observationId: string;
  outcome: 'analyzed' | 'already-analyzed' | 'deleted' | 'not-ai-result';
  window?: string;
  entropyBits?: number;
  flagged?: boolean;
  /** Rules that raised the high-uncertainty Flag, or none when the result was not flagged. */
  flaggedBy?: UncertaintyRule[];
}

// Entropies this close are the same value after a JSON round trip through the FHIR server.
const ENTROPY_TOLERANCE = 1e-12;

/**
 * Analyses one AI result version.
 *
 * Order matters for crash safety: the Mongo document, the Flag and the drift job come first and are
 * idempotent; the extension write comes last. The extension also stops the loop that the write itself starts
 * (the update triggers the Subscription again, and that job finds the extension and stops).
 * @param context - Peers, settings and logger.
 * @param job - The bull job.
 * @returns What was done.
 * @throws InvalidResultError when the result is unusable, after recording it in Mongo and discarding the job
 *   so that bull does not retry it.
 */
export async function processAnalyzeJob(
  context: WorkerContext,
  job: Bull.Job<AnalyzeResultJob>
): Promise<AnalyzeOutcome> {
  try {
    return await analyzeResult(context, job.data);
  } catch (err) {
    if (err instanceof InvalidResultError) {
      // Record why the result cannot be analysed, where the monitoring views look for results.
      await context.store.upsertResult({
        observationId: job.data.id,
        observationVersionId: job.data.versionId,
        status: 'invalid',
        error: err.message,
        analyzedAt: new Date(),
        analyzerVersion: ANALYZER_VERSION,
      });
      context.log.warn(
        { observationId: job.data.id, err },
        'AI result cannot be analysed; job failed permanently'
      );
      await job.discard();
    }
    throw err;
  }
}

async function analyzeResult(context: WorkerContext, job: AnalyzeResultJob): Promise<AnalyzeOutcome> {
  const { fhir, store, settings, log } = context;
  const observationId = job.id;

  const observation = await readObservation(fhir, observationId);
  if (observation === undefined) {
    log.info({ observationId }, 'Observation was deleted before analysis; nothing to do');
    return { observationId, outcome: 'deleted' };
  }
  if (!hasAiLabel(observation.meta)) {
    log.info({ observationId }, 'Observation has no AIAST label; not an AI result');
    return { observationId, outcome: 'not-ai-result' };
  }
  const versionId = observation.meta?.versionId ?? job.versionId;

  const score = observation.valueQuantity?.value;
  if (!isProbability(score)) {
    throw new InvalidResultError(
      `Observation/${observationId} valueQuantity.value is ${String(score)}; expected a probability from 0 to 1.`
    );
  }

  const assessment = assessUncertainty(score, {
    entropyThresholdBits: settings.uncertaintyThresholdBits,
    marginWidth: settings.uncertaintyMarginWidth,
  });
  const { entropyBits, flaggedBy } = assessment;
  const recorded = readUncertainty(observation.extension);
  // An extension without the rule limits predates the margin rule, so the result is analysed again. The
  // analyzer version is unchanged, because a version change makes two versions that share a FHIR server
  // rewrite each other's extension on every Subscription notification.
  if (
    recorded?.analyzerVersion === ANALYZER_VERSION &&
    recorded.rules !== undefined &&
    Math.abs(recorded.entropyBits - entropyBits) <= ENTROPY_TOLERANCE
  ) {
    log.debug({ observationId, versionId }, 'Observation already carries this analyzer version; skipped');
    return { observationId, outcome: 'already-analyzed' };
  }

  const model = await resolveResultModel(fhir, observation);
  const effective = observation.effectiveDateTime;
  const window = windowOf(observationId, effective);
  const patientId = patientIdOf(observation);
  const mc = await estimateMcUncertainty(context, model, observationId, patientId, effective);
  const features = await gatherFeatures(context, model.modelId, patientId, effective);

  await store.upsertResult({
    observationId,
    observationVersionId: versionId,
    status: 'analyzed',
    modelId: model.modelId,
    modelVersion: model.modelVersion,
    deviceId: model.deviceId,
    window,
    score,
    entropy: entropyBits,
    margin: assessment.margin,
    highUncertaintyRules: flaggedBy,
    uncertaintyMethod: mc === undefined ? 'entropy' : 'mc-dropout',
    ...(mc === undefined
      ? {}
      : {
          mcMean: mc.mean,
          mcStd: mc.std,
          mcPredictiveEntropy: mc.predictiveEntropyBits,
          mcMutualInformation: mc.mutualInformationBits,
          mcSamples: mc.samples,
          surrogateVersion: mc.surrogateVersion,
        }),
    ...(features === undefined ? {} : { features }),
    patientId,
    effective: new Date(effective ?? ''),
    analyzedAt: new Date(),
    analyzerVersion: ANALYZER_VERSION,
  });

  const flagged = flaggedBy.length > 0;
  if (flagged && patientId !== undefined && effective !== undefined) {
    await createFlagIfAbsent(
      fhir,
      buildMonitoringFlag({ observationId, patientId, effective }, FLAG_CODES.highUncertainty),
      flagIdentifierQuery(observationId, FLAG_CODES.highUncertainty.code)
    );
    log.info({ observationId, flaggedBy }, 'Flagged high uncertainty');
  } else if (flagged) {
    log.warn({ observationId, flaggedBy }, 'High uncertainty but no Patient subject; no Flag written');
  }

  await scheduleDriftEvaluation(context, { modelId: model.modelId, window });

  const driftMetric = await store.findMetric(
    model.modelId,
    model.modelVersion,
    METRICS.outputDriftKs,
    window
  );
  const uncertaintyExtension = buildUncertaintyExtension(assessment, mc);
  // A window tested before its metric recorded the reference gets DRIFT_EXTENSION from the drift
  // evaluation scheduled above, which always records it.
  const driftExtension =
    driftMetric?.status !== undefined &&
    driftMetric.status !== 'reference' &&
    typeof driftMetric.value === 'number' &&
    driftMetric.referenceWindows !== undefined &&
    driftMetric.referenceWindows.length > 0 &&
    driftMetric.referenceN !== undefined
      ? buildDriftExtension({
          statistic: driftMetric.statistic ?? 0,
          pValue: driftMetric.value,
          threshold: driftMetric.threshold ?? settings.driftPThreshold,
          window,
          reference: { windows: driftMetric.referenceWindows, n: driftMetric.referenceN },
          detected: driftMetric.detected === true,
        })
      : undefined;

  const outcome = await updateObservationWithRetry(fhir, observationId, (current) => {
    // A newer version with another score gets its own job; do not stamp this entropy onto it.
    if (current.valueQuantity?.value !== score) {
      return undefined;
    }
    if (hasEqualExtension(current.extension, uncertaintyExtension)) {
      return undefined;
    }
    let extension = replaceExtension(current.extension, uncertaintyExtension);
    if (driftExtension !== undefined) {
      extension = replaceExtension(extension, driftExtension);
    }
    return { ...current, extension } satisfies Observation;
  });

  log.info(
    { observationId, window, flagged, method: mc === undefined ? 'entropy' : 'mc-dropout', update: outcome },
    'Analysed AI result'
  );
  return { observationId, outcome: 'analyzed', window, entropyBits, flagged, flaggedBy };
}

/**
 * Runs MC dropout on the model's active surrogate. A failure (FHIR search, ONNX Runtime) falls back to the
 * reported probability's entropy rather than failing the result, and is logged.
 */
async function estimateMcUncertainty(
  context: WorkerContext,
  model: ResultModel,
  observationId: string,
  patientId: string | undefined,
  effective: string | undefined
): Promise<McUncertainty | undefined> {
  if (context.uncertainty === undefined || patientId === undefined || effective === undefined) {
    return undefined;
  }
  const { modelId, modelVersion } = model;
  try {
    return await context.uncertainty.estimate(modelId, patientId, effective, modelVersion);
  } catch (err) {
    context.log.warn(
      { observationId, modelId, err },
      'MC dropout failed; using the entropy of the reported probability'
    );
    return undefined;
  }
}

/**
 * Reads the model's inputs for the result from the patient's FHIR Observations, keyed by input name, with
 * null for an input that has no value in the lookback. The rollup sketches and the drift job test them like
 * the output. A FHIR failure fails the job, so bull retries it instead of storing a result without inputs.
 * @returns The inputs, or undefined for a model without a feature spec or a result without subject or time.
 */
async function gatherFeatures(
  context: WorkerContext,
  modelId: string,
  patientId: string | undefined,
  effective: string | undefined
): Promise<AiResultDocument['features']> {
  const spec = featureSpecFor(modelId);
  const effectiveMs = effective === undefined ? Number.NaN : Date.parse(effective);
  if (spec === undefined || patientId === undefined || Number.isNaN(effectiveMs)) {
    return undefined;
  }

  const values = await gatherInputs(context.fhir, spec, patientId, effectiveMs);
  const features: Record<string, number | null> = {};
  for (const input of spec.inputs) {
    features[input.name] = values[input.name] ?? null;
  }
  return features;
}

/**
 * Adds the drift evaluation of (model, window) with a delay. While a job with the same id waits, bull drops
 * the add, so a burst of results in one window is evaluated once, `driftDebounceMs` after its first result.
 * Results that arrive while the evaluation runs are caught by its own re-check, and those that arrive as it
 * finishes by rescheduleIfChanged (see evaluate-drift.ts).
 * @param context - Worker context with the drift queue.
 * @param job - Model and window.
 */
export async function scheduleDriftEvaluation(context: WorkerContext, job: EvaluateDriftJob): Promise<void> {
  await context.driftQueue.add(job, {
    jobId: driftJobId(job),
    delay: context.settings.driftDebounceMs,
    removeOnComplete: true,
    removeOnFail: { age: 7 * 24 * 3600 },
    attempts: 3,
    backoff: { type: 'exponential', delay: 2_000 },
  });
}

function patientIdOf(observation: Observation): string | undefined {
  const reference = observation.subject?.reference;
  const match = reference === undefined ? null : /^(?:.*\/)?Patient\/([^/]+)$/.exec(reference);
  return match?.[1];
}
