/**
 * Trains a surrogate MLP with dropout on logged pairs (feature row → the monitored model's probability)
 * with Adam and early stopping, reproducibly from a seed.
 */
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import { createRng } from '@monitormed/synthea-data';
import { computeFidelity, type SurrogateFidelity } from './fidelity.js';
import {
  accumulateGradients,
  createDenseLayer,
  forward,
  type DenseLayer,
  type LayerGradient,
  type MlpModel,
} from './mlp.js';

/** One logged pair: the raw feature row and the monitored model's reported probability. */
export interface SurrogatePair {
  features: readonly number[];
  probability: number;
}

/** Hyperparameters of {@link trainSurrogate}; every field has a default. */
export interface TrainingOptions {
  /** Units of each hidden layer; defaults to [32, 32]. */
  hiddenSizes: readonly number[];
  /** Dropout probability after each hidden layer, used in training and by MC dropout; defaults to 0.1. */
  dropoutRate: number;
  /** Adam step size; defaults to 0.005. */
  learningRate: number;
  /** Pairs per gradient step; defaults to 32. */
  batchSize: number;
  /** Maximum passes over the training pairs; defaults to 300. */
  maxEpochs: number;
  /** Epochs without a better validation loss before training stops; defaults to 25. */
  patience: number;
  /** Share of pairs held out to choose the stopping epoch; defaults to 0.15. */
  validationShare: number;
  /** Share of pairs held out to report fidelity, never seen in training; defaults to 0.15. */
  testShare: number;
  /** Seed of the split, the initial weights and the dropout masks; defaults to 1. */
  seed: number;
}

/** Default hyperparameters. */
export const DEFAULT_TRAINING_OPTIONS: TrainingOptions = {
  hiddenSizes: [32, 32],
  dropoutRate: 0.1,
  learningRate: 0.005,
  batchSize: 32,
  maxEpochs: 300,
  patience: 25,
  validationShare: 0.15,
  testShare: 0.15,
  seed: 1,
};

/** Minimum number of pairs for training, so that each split gets at least a handful of pairs. */
export const MIN_TRAINING_PAIRS = 40;

/** A trained surrogate with its held-out fidelity. */
export interface TrainingResult {
  model: MlpModel;
  /** Fidelity on the test split, with the deterministic forward pass (dropout off). */
  fidelity: SurrogateFidelity;
  /** Pairs in the training, validation and test splits. */
  splitSizes: { train: number; validation: number; test: number };
  /** Epoch (from 1) whose weights were kept, and the epochs run. */
  bestEpoch: number;
  epochsRun: number;
  /** Mean binary cross-entropy on the validation split at the best epoch. */
  validationLoss: number;
}

/** Thrown when the pairs cannot train a surrogate: too few pairs or an invalid pair. */
export class TrainingDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingDataError';
  }
}

/**
 * Trains a surrogate network on logged pairs.
 * @param pairs - Feature rows with the monitored model's probability.
 * @param threshold - The model's positive threshold, for the fidelity's call agreement.
 * @param overrides - Hyperparameters that replace {@link DEFAULT_TRAINING_OPTIONS}.
 * @returns The network with the lowest validation loss and its fidelity on the test split.
 * @throws TrainingDataError when there are fewer than {@link MIN_TRAINING_PAIRS} pairs, the rows differ in
 *   length, or a value is not finite or a probability is outside [0, 1].
 */
export function trainSurrogate(
  pairs: readonly SurrogatePair[],
  threshold: number,
  overrides: Partial<TrainingOptions> = {}
): TrainingResult {
  const epochs = trainingEpochs(pairs, threshold, overrides);
  for (let step = epochs.next(); ; step = epochs.next()) {
    if (step.done === true) {
      return step.value;
    }
  }
}

/**
 * Trains a surrogate like {@link trainSurrogate}, with the same result for the same seed, but gives the event
 * loop a turn after every epoch. A worker needs that: a synchronous training of many pairs would block the
 * renewal of its job locks and the other jobs of the process for the whole training.
 * @param pairs - Feature rows with the monitored model's probability.
 * @param threshold - The model's positive threshold, for the fidelity's call agreement.
 * @param overrides - Hyperparameters that replace {@link DEFAULT_TRAINING_OPTIONS}.
 * @returns The network with the lowest validation loss and its fidelity on the test split.
 * @throws TrainingDataError as {@link trainSurrogate} does.
 */
export async function trainSurrogateYielding(
  pairs: readonly SurrogatePair[],
  threshold: number,
  overrides: Partial<TrainingOptions> = {}
): Promise<TrainingResult> {
  const epochs = trainingEpochs(pairs, threshold, overrides);
  for (let step = epochs.next(); ; step = epochs.next()) {
    if (step.done === true) {
      return step.value;
    }
    await setImmediatePromise();
  }
}

/** Runs the training; yields the number of each finished epoch and returns the result. */
function* trainingEpochs(
  pairs: readonly SurrogatePair[],
  threshold: number,
  overrides: Partial<TrainingOptions>
): Generator<number, TrainingResult> {
  const options = { ...DEFAULT_TRAINING_OPTIONS, ...overrides };
  validatePairs(pairs);

  // Split: shuffle with the seed, then test, validation and training pairs in that order.
  const rng = createRng(options.seed);
  const shuffled = [...pairs];
  for (let index = shuffled.length - 1; index > 0; index -= 1) {
    const other = rng.int(index + 1);
    [shuffled[index], shuffled[other]] = [shuffled[other] as SurrogatePair, shuffled[index] as SurrogatePair];
  }
  const testCount = Math.max(1, Math.round(shuffled.length * options.testShare));
  const validationCount = Math.max(1, Math.round(shuffled.length * options.validationShare));
  const test = shuffled.slice(0, testCount);
  const validation = shuffled.slice(testCount, testCount + validationCount);
  const train = shuffled.slice(testCount + validationCount);

  const inputSize = train[0]?.features.length ?? 0;
  const model: MlpModel = {
    normalization: normalizationOf(train, inputSize),
    layers: [],
    dropoutRate: options.dropoutRate,
  };
  const sizes = [inputSize, ...options.hiddenSizes, 1];
  for (let index = 0; index + 1 < sizes.length; index += 1) {
    model.layers.push(createDenseLayer(sizes[index] ?? 1, sizes[index + 1] ?? 1, () => rng.next()));
  }

  const adam = createAdamState(model.layers);
  let best = { loss: validationLoss(model, validation), epoch: 0, layers: cloneLayers(model.layers) };
  let epochsRun = 0;

  for (let epoch = 1; epoch <= options.maxEpochs; epoch += 1) {
    epochsRun = epoch;
    const order = train.map((_pair, index) => index);
    for (let index = order.length - 1; index > 0; index -= 1) {
      const other = rng.int(index + 1);
      [order[index], order[other]] = [order[other] ?? 0, order[index] ?? 0];
    }

    for (let start = 0; start < order.length; start += options.batchSize) {
      const batch = order.slice(start, start + options.batchSize);
      const gradients = model.layers.map((layer) => ({
        weights: new Float64Array(layer.weights.length),
        bias: new Float64Array(layer.bias.length),
      }));
      for (const pairIndex of batch) {
        const pair = train[pairIndex];
        if (pair !== undefined) {
          accumulateGradients(
            model,
            forward(model, pair.features, () => rng.next()),
            pair.probability,
            gradients
          );
        }
      }
      adamStep(model.layers, gradients, adam, options.learningRate, batch.length);
    }

    const loss = validationLoss(model, validation);
    if (loss < best.loss) {
      best = { loss, epoch, layers: cloneLayers(model.layers) };
    } else if (epoch - best.epoch >= options.patience) {
      break;
    }
    yield epoch;
  }

  model.layers = best.layers;
  const predicted = test.map((pair) => forward(model, pair.features).probability);
  const fidelity = computeFidelity(
    predicted,
    test.map((pair) => pair.probability),
    threshold
  );
  return {
    model,
    fidelity,
    splitSizes: { train: train.length, validation: validation.length, test: test.length },
    bestEpoch: best.epoch,
    epochsRun,
    validationLoss: best.loss,
  };
}

function validatePairs(pairs: readonly SurrogatePair[]): void {
  if (pairs.length < MIN_TRAINING_PAIRS) {
    throw new TrainingDataError(
      `Too few pairs to train a surrogate: ${String(pairs.length)} given, at least ${String(MIN_TRAINING_PAIRS)} needed.`
    );
  }
  const width = pairs[0]?.features.length ?? 0;
  for (const [index, pair] of pairs.entries()) {
    if (pair.features.length !== width || width === 0) {
      throw new TrainingDataError(
        `Invalid pair ${String(index)}: ${String(pair.features.length)} features, expected ${String(width)} like the first pair.`
      );
    }
    if (!pair.features.every((value) => Number.isFinite(value))) {
      throw new TrainingDataError(`Invalid pair ${String(index)}: every feature must be a finite number.`);
    }
    if (!(pair.probability >= 0 && pair.probability <= 1)) {
      throw new TrainingDataError(
        `Invalid pair ${String(index)}: probability ${String(pair.probability)} is not from 0 to 1.`
      );
    }
  }
}

/** Mean and population standard deviation of each training column; a constant column gets scale 1. */
function normalizationOf(train: readonly SurrogatePair[], inputSize: number): MlpModel['normalization'] {
  const mean = new Float64Array(inputSize);
  const scale = new Float64Array(inputSize);
  for (let column = 0; column < inputSize; column += 1) {
    const values = train.map((pair) => pair.features[column] ?? 0);
    const columnMean = values.reduce((sum, value) => sum + value, 0) / values.length;
    const variance = values.reduce((sum, value) => sum + (value - columnMean) ** 2, 0) / values.length;
    mean[column] = columnMean;
    scale[column] = variance > 0 ? Math.sqrt(variance) : 1;
  }
  return { mean, scale };
}

/** Mean binary cross-entropy of the deterministic forward pass against the soft targets. */
function validationLoss(model: MlpModel, pairs: readonly SurrogatePair[]): number {
  const epsilon = 1e-12;
  let sum = 0;
  for (const pair of pairs) {
    const p = Math.min(1 - epsilon, Math.max(epsilon, forward(model, pair.features).probability));
    sum -= pair.probability * Math.log(p) + (1 - pair.probability) * Math.log(1 - p);
  }
  return sum / pairs.length;
}

function cloneLayers(layers: readonly DenseLayer[]): DenseLayer[] {
  return layers.map((layer) => ({ ...layer, weights: layer.weights.slice(), bias: layer.bias.slice() }));
}

interface AdamState {
  step: number;
  firstMoments: LayerGradient[];
  secondMoments: LayerGradient[];
}

function createAdamState(layers: readonly DenseLayer[]): AdamState {
  const zeros = (): LayerGradient[] =>
    layers.map((layer) => ({
      weights: new Float64Array(layer.weights.length),
      bias: new Float64Array(layer.bias.length),
    }));
  return { step: 0, firstMoments: zeros(), secondMoments: zeros() };
}

/** Applies one Adam update with β1 = 0.9, β2 = 0.999, ε = 1e-8 on the batch-mean gradient. */
function adamStep(
  layers: DenseLayer[],
  gradients: readonly LayerGradient[],
  state: AdamState,
  learningRate: number,
  batchSize: number
): void {
  const beta1 = 0.9;
  const beta2 = 0.999;
  const epsilon = 1e-8;
  state.step += 1;
  const correction1 = 1 - beta1 ** state.step;
  const correction2 = 1 - beta2 ** state.step;

  for (const [layerIndex, layer] of layers.entries()) {
    const pairs: [Float64Array, keyof LayerGradient][] = [
      [layer.weights, 'weights'],
      [layer.bias, 'bias'],
    ];
    for (const [parameters, key] of pairs) {
      const gradient = gradients[layerIndex]?.[key];
      const first = state.firstMoments[layerIndex]?.[key];
      const second = state.secondMoments[layerIndex]?.[key];
      if (gradient === undefined || first === undefined || second === undefined) {
        continue;
      }
      for (let index = 0; index < parameters.length; index += 1) {
        const g = (gradient[index] ?? 0) / batchSize;
        first[index] = beta1 * (first[index] ?? 0) + (1 - beta1) * g;
        second[index] = beta2 * (second[index] ?? 0) + (1 - beta2) * g * g;
        const step =
          (learningRate * ((first[index] ?? 0) / correction1)) /
          (Math.sqrt((second[index] ?? 0) / correction2) + epsilon);
        parameters[index] = (parameters[index] ?? 0) - step;
      }
    }
  }
}
