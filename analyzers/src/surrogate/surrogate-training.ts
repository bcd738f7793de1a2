/**
 * One surrogate training from pairs to stored version, shared by the train-surrogate command and the
 * training job: train with dropout, export to ONNX with its description in the metadata, and store the
 * bytes as the model's new active version.
 */
import type { AiModelDefinition } from '@monitormed/common';
import { featureNames, type SurrogateFeatureSpec } from './features.js';
import { exportMlpToOnnx } from './onnx-export.js';
import type { SurrogateDocument, SurrogateStore, SurrogateVersionInfo } from './store.js';
import { trainSurrogateYielding, type SurrogatePair, type TrainingOptions } from './train.js';

/** Version of the surrogate format written into the ONNX metadata. */
export const SURROGATE_FORMAT = 'monitormed-surrogate-mlp/1';

/** Input of {@link trainAndStoreSurrogate}. */
export interface SurrogateTrainingRequest {
  /** Catalog entry of the monitored model; its positive threshold sets the fidelity's calls. */
  model: AiModelDefinition;
  /** Version of the monitored model whose results gave the pairs. */
  modelVersion: string;
  spec: SurrogateFeatureSpec;
  pairs: readonly SurrogatePair[];
  training: Partial<TrainingOptions>;
  source: SurrogateVersionInfo['source'];
  /** Effective-time range of the FHIR results, when the pairs come from FHIR. */
  trainingRange?: { from?: string; to?: string };
  /** Id of the training job, so that a rerun of the job stores no second version. */
  trainingJobId?: string;
}

/** The stored version with the training's epochs. */
export interface SurrogateTrainingResult {
  stored: SurrogateDocument;
  /** Epoch (from 1) whose weights were kept, and the epochs run. */
  bestEpoch: number;
  epochsRun: number;
}

/**
 * Trains a surrogate on the pairs, exports it to ONNX and stores it as the model's new active version.
 * @param store - Surrogate versions in MongoDB.
 * @param request - Model, pairs and options.
 * @returns The stored version with its fidelity on the held-out pairs.
 * @throws TrainingDataError when the pairs cannot train a surrogate (too few, or invalid values).
 * @throws TrainingAlreadyStoredError when a version for `trainingJobId` exists already.
 * @throws SurrogateTooLargeError when the ONNX model exceeds the stored size limit.
 */
export async function trainAndStoreSurrogate(
  store: SurrogateStore,
  request: SurrogateTrainingRequest
): Promise<SurrogateTrainingResult> {
  const { model, modelVersion, spec, pairs } = request;
  const trained = await trainSurrogateYielding(pairs, model.positiveThreshold, request.training);
  const names = featureNames(spec);

  const stored = await store.saveVersion(
    {
      modelId: model.modelId,
      modelVersion,
      featureNames: names,
      trainingSize: pairs.length,
      splitSizes: trained.splitSizes,
      fidelity: trained.fidelity,
      dropoutRate: trained.model.dropoutRate,
      hiddenSizes: trained.model.layers.slice(0, -1).map((layer) => layer.outputSize),
      lookbackHours: spec.lookbackHours,
      source: request.source,
      ...(request.trainingRange === undefined ? {} : { trainingRange: request.trainingRange }),
      ...(request.trainingJobId === undefined ? {} : { trainingJobId: request.trainingJobId }),
      trainedAt: new Date(),
    },
    (version) =>
      exportMlpToOnnx(trained.model, {
        dropout: 'random-mask',
        featureNames: names,
        metadata: {
          format: SURROGATE_FORMAT,
          modelId: model.modelId,
          modelVersion,
          surrogateVersion: String(version),
          trainingSize: String(pairs.length),
          fidelity: JSON.stringify(trained.fidelity),
          dropoutRate: String(trained.model.dropoutRate),
          lookbackHours: String(spec.lookbackHours),
        },
      })
  );
  return { stored, bestEpoch: trained.bestEpoch, epochsRun: trained.epochsRun };
}
