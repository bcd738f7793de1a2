/**
 * The SURROGATE_QUEUE job: trains a surrogate of one model version on its logged pairs from FHIR, stores
 * it in MongoDB as the model's new active version, and makes this process's uncertainty worker load it.
 */
import type { AiModelDefinition, FhirClient, Logger } from '@monitormed/common';
import type Bull from 'bull';
import { jobIdOf, SURROGATE_QUEUE, type TrainSurrogateJob } from '../jobs/definitions.js';
import { featureSpecFor } from '../surrogate/features.js';
import type { SurrogateFidelity } from '../surrogate/fidelity.js';
import { extractPairs, ModelDeviceNotFoundError, type ExtractedPairs } from '../surrogate/pairs.js';
import { TrainingAlreadyStoredError, type SurrogateStore } from '../surrogate/store.js';
import { trainAndStoreSurrogate } from '../surrogate/surrogate-training.js';
import { MIN_TRAINING_PAIRS, TrainingDataError } from '../surrogate/train.js';
import { findInvalidTrainingSetting, TRAINING_SETTING_RULES } from '../surrogate/training-settings.js';
import type { SurrogateUncertainty } from '../uncertainty/surrogate-uncertainty.js';

/** Dependencies of {@link processTrainSurrogateJob}. */
export interface TrainSurrogateDeps {
  fhir: FhirClient;
  surrogates: SurrogateStore;
  /** Model catalog; a model must be in it for its positive threshold. */
  models: readonly AiModelDefinition[];
  log: Logger;
  /** The process's MC dropout estimator, which loads the new version at its next result. */
  uncertainty?: SurrogateUncertainty;
}

/** Result of one training job, stored by bull as the job's return value. */
export interface TrainSurrogateOutcome {
  jobId: string;
  modelId: string;
  modelVersion: string;
  /** `already-trained` when an earlier run of the same job id stored the version. */
  outcome: 'trained' | 'already-trained';
  surrogateVersion: number;
  trainingSize: number;
  fidelity: SurrogateFidelity;
  /** AI results read and left out, for a training run by this job. */
  extraction?: Omit<ExtractedPairs, 'pairs'>;
}

/** A training request that cannot succeed as given, so bull must not retry it. */
export class SurrogateJobRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SurrogateJobRejectedError';
  }
}

/**
 * Runs one training job. Idempotent by job id: the stored version carries the id, so a job queued again
 * after it completed returns that version and trains nothing.
 * @param deps - Peers, catalog and logger.
 * @param job - The bull job.
 * @returns The stored (or earlier stored) version and its fidelity on the held-out pairs.
 * @throws SurrogateJobRejectedError for an invalid payload, a model outside the catalog or without known
 *   inputs or Device, or fewer than MIN_TRAINING_PAIRS pairs, after discarding the job so that bull does
 *   not retry it. Other errors (FHIR or MongoDB unreachable) fail the attempt and bull retries it.
 */
export async function processTrainSurrogateJob(
  deps: TrainSurrogateDeps,
  job: Bull.Job<TrainSurrogateJob>
): Promise<TrainSurrogateOutcome> {
  try {
    return await trainFromJob(deps, job.data);
  } catch (err) {
    if (err instanceof SurrogateJobRejectedError) {
      deps.log.warn({ jobId: job.id, err }, 'Surrogate training rejected; job failed permanently');
      await job.discard();
    }
    throw err;
  }
}

async function trainFromJob(
  deps: TrainSurrogateDeps,
  data: TrainSurrogateJob
): Promise<TrainSurrogateOutcome> {
  const { fhir, surrogates, models, log } = deps;
  checkPayload(data);
  const { modelId, modelVersion } = data;
  const jobId = jobIdOf(SURROGATE_QUEUE, data);

  const earlier = await surrogates.findByTrainingJob(jobId);
  if (earlier !== undefined) {
    log.info(
      { jobId, surrogateVersion: earlier.version },
      'Surrogate training job already stored its version'
    );
    return alreadyTrained(jobId, modelVersion, earlier);
  }

  const model = models.find((entry) => entry.modelId === modelId);
  if (model === undefined) {
    throw new SurrogateJobRejectedError(
      `Unknown model '${modelId}': it is not in the model catalog (MONITORMED_MODELS_FILE), so its positive threshold is unknown.`
    );
  }
  const spec = featureSpecFor(modelId, data.lookbackHours);
  if (spec === undefined) {
    throw new SurrogateJobRejectedError(
      `Model '${modelId}' has no known inputs, so it cannot have a surrogate; register its inputs with registerFeatureSpec().`
    );
  }

  let extracted: ExtractedPairs;
  try {
    extracted = await extractPairs(fhir, spec, {
      modelVersion,
      ...(data.from === undefined ? {} : { from: data.from }),
      ...(data.to === undefined ? {} : { to: data.to }),
    });
  } catch (err) {
    if (err instanceof ModelDeviceNotFoundError) {
      throw new SurrogateJobRejectedError(err.message);
    }
    throw err;
  }
  const { pairs, ...extraction } = extracted;
  if (pairs.length < MIN_TRAINING_PAIRS) {
    const range = data.from === undefined && data.to === undefined ? '' : ' in the requested date range';
    throw new SurrogateJobRejectedError(
      `Too few pairs to train a surrogate of ${modelId} version ${modelVersion}: ${String(pairs.length)} from ${String(extraction.resultsRead)} FHIR results${range}, at least ${String(MIN_TRAINING_PAIRS)} needed. Queue it again with another trainingKey once more results with inputs exist.`
    );
  }

  log.info({ jobId, modelId, modelVersion, pairs: pairs.length }, 'Training surrogate');
  let result;
  try {
    result = await trainAndStoreSurrogate(surrogates, {
      model,
      modelVersion,
      spec,
      pairs,
      training: data.training ?? {},
      source: 'fhir',
      trainingRange: {
        ...(data.from === undefined ? {} : { from: data.from }),
        ...(data.to === undefined ? {} : { to: data.to }),
      },
      trainingJobId: jobId,
    });
  } catch (err) {
    if (err instanceof TrainingAlreadyStoredError) {
      // Another run of this job (a stalled one taken over) stored its version first.
      log.info(
        { jobId, surrogateVersion: err.document.version },
        'Surrogate training job already stored its version'
      );
      return alreadyTrained(jobId, modelVersion, err.document);
    }
    if (err instanceof TrainingDataError) {
      throw new SurrogateJobRejectedError(err.message);
    }
    throw err;
  }

  const { stored } = result;
  deps.uncertainty?.reload(modelId);
  log.info(
    {
      jobId,
      modelId,
      modelVersion,
      surrogateVersion: stored.version,
      trainingSize: stored.trainingSize,
      meanAbsoluteError: stored.fidelity.meanAbsoluteError,
      pearson: stored.fidelity.pearson,
      epochsRun: result.epochsRun,
    },
    'Stored surrogate version'
  );
  return {
    jobId,
    modelId,
    modelVersion,
    outcome: 'trained',
    surrogateVersion: stored.version,
    trainingSize: stored.trainingSize,
    fidelity: stored.fidelity,
    extraction,
  };
}

function alreadyTrained(
  jobId: string,
  modelVersion: string,
  document: { modelId: string; version: number; trainingSize: number; fidelity: SurrogateFidelity }
): TrainSurrogateOutcome {
  return {
    jobId,
    modelId: document.modelId,
    modelVersion,
    outcome: 'already-trained',
    surrogateVersion: document.version,
    trainingSize: document.trainingSize,
    fidelity: document.fidelity,
  };
}

/** Checks a payload read from Redis, which any client may have written. */
function checkPayload(data: TrainSurrogateJob): void {
  for (const field of ['modelId', 'modelVersion', 'trainingKey'] as const) {
    const value: unknown = data[field];
    if (typeof value !== 'string' || value === '') {
      throw new SurrogateJobRejectedError(
        `Invalid training job: ${field} is ${JSON.stringify(value)}; expected a non-empty string.`
      );
    }
  }
  for (const field of ['from', 'to'] as const) {
    const value: unknown = data[field];
    if (value !== undefined && (typeof value !== 'string' || Number.isNaN(Date.parse(value)))) {
      throw new SurrogateJobRejectedError(
        `Invalid training job: ${field} is ${JSON.stringify(value)}; expected a date or dateTime such as 2025-01-31.`
      );
    }
  }
  const lookback: unknown = data.lookbackHours;
  const rule = TRAINING_SETTING_RULES.lookbackHours;
  if (
    lookback !== undefined &&
    !(typeof lookback === 'number' && Number.isFinite(lookback) && rule.isValid(lookback))
  ) {
    throw new SurrogateJobRejectedError(
      `Invalid training job: lookbackHours is ${JSON.stringify(lookback)}; expected ${rule.expected}.`
    );
  }
  const invalid = data.training === undefined ? undefined : findInvalidTrainingSetting(data.training);
  if (invalid !== undefined) {
    throw new SurrogateJobRejectedError(`Invalid training job: ${invalid}`);
  }
}
