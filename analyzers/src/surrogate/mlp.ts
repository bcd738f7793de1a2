/**
 * A small multilayer perceptron for binary probability regression: dense layers with ReLU and inverted
 * dropout, then one sigmoid output. Parameters are Float64Array so that the ONNX export (double tensors)
 * reproduces the forward pass to rounding error.
 */

/** One dense layer y = x·W + b, with W stored row-major as [inputSize][outputSize]. */
export interface DenseLayer {
  inputSize: number;
  outputSize: number;
  weights: Float64Array;
  bias: Float64Array;
}

/** Feature normalisation applied before the first layer: x' = (x − mean) / scale. */
export interface FeatureNormalization {
  mean: Float64Array;
  scale: Float64Array;
}

/** Architecture and weights of a trained network. */
export interface MlpModel {
  normalization: FeatureNormalization;
  /** Hidden layers (ReLU, then dropout) followed by the output layer (one unit, sigmoid). */
  layers: DenseLayer[];
  /** Dropout probability after every hidden layer, from 0 (no dropout) to below 1. */
  dropoutRate: number;
}

/**
 * Creates a layer with He-uniform weights and zero bias.
 * @param inputSize - Number of inputs.
 * @param outputSize - Number of units.
 * @param nextUniform - Seeded source of uniforms in [0, 1).
 * @returns The layer.
 */
export function createDenseLayer(
  inputSize: number,
  outputSize: number,
  nextUniform: () => number
): DenseLayer {
  const limit = Math.sqrt(6 / inputSize);
  const weights = new Float64Array(inputSize * outputSize);
  for (let index = 0; index < weights.length; index += 1) {
    weights[index] = (2 * nextUniform() - 1) * limit;
  }
  return { inputSize, outputSize, weights, bias: new Float64Array(outputSize) };
}

/** Dropout masks of one forward pass; undefined entries mean that no unit was dropped. */
export type DropoutMasks = (Float64Array | undefined)[];

/** Activations of a forward pass, kept for the backward pass. */
export interface ForwardTrace {
  /** Input of every layer (the normalised features first). */
  layerInputs: Float64Array[];
  /** Pre-activation of every hidden layer. */
  hiddenPreActivations: Float64Array[];
  masks: DropoutMasks;
  logit: number;
  probability: number;
}

/**
 * Computes the logistic function without overflow for large |x|.
 * @param logit - Log-odds.
 * @returns A probability in [0, 1].
 */
export function sigmoid(logit: number): number {
  if (logit >= 0) {
    return 1 / (1 + Math.exp(-logit));
  }
  const exp = Math.exp(logit);
  return exp / (1 + exp);
}

/**
 * Normalises one raw feature row with the model's mean and scale.
 * @param model - The network.
 * @param features - Raw features, one per input.
 * @returns A new normalised row.
 */
export function normalizeFeatures(model: MlpModel, features: ArrayLike<number>): Float64Array {
  const { mean, scale } = model.normalization;
  const normalized = new Float64Array(mean.length);
  for (let index = 0; index < mean.length; index += 1) {
    normalized[index] = ((features[index] ?? 0) - (mean[index] ?? 0)) / (scale[index] ?? 1);
  }
  return normalized;
}

/**
 * Runs the network on one raw feature row.
 * @param model - The network.
 * @param features - Raw features.
 * @param nextUniform - Source of the dropout masks. When given, dropout is active, as in training or MC
 *   dropout in TypeScript. When omitted, dropout is off and the pass is deterministic.
 * @returns The activations and the output probability.
 */
export function forward(
  model: MlpModel,
  features: ArrayLike<number>,
  nextUniform?: () => number
): ForwardTrace {
  const layerInputs: Float64Array[] = [];
  const hiddenPreActivations: Float64Array[] = [];
  const masks: DropoutMasks = [];
  let activation = normalizeFeatures(model, features);
  const keepProbability = 1 - model.dropoutRate;

  for (const [layerIndex, layer] of model.layers.entries()) {
    layerInputs.push(activation);
    const output = denseForward(layer, activation);
    if (layerIndex === model.layers.length - 1) {
      const logit = output[0] ?? 0;
      return { layerInputs, hiddenPreActivations, masks, logit, probability: sigmoid(logit) };
    }

    hiddenPreActivations.push(output);
    const hidden = new Float64Array(output.length);
    let mask: Float64Array | undefined;
    if (nextUniform !== undefined && model.dropoutRate > 0) {
      // Inverted dropout, as ONNX Dropout computes it: kept units are scaled by 1 / (1 − rate).
      mask = new Float64Array(output.length);
      for (let unit = 0; unit < output.length; unit += 1) {
        mask[unit] = nextUniform() < keepProbability ? 1 / keepProbability : 0;
      }
    }
    for (let unit = 0; unit < output.length; unit += 1) {
      hidden[unit] = Math.max(0, output[unit] ?? 0) * (mask?.[unit] ?? 1);
    }
    masks.push(mask);
    activation = hidden;
  }
  throw new Error('The network has no layers.');
}

function denseForward(layer: DenseLayer, input: Float64Array): Float64Array {
  const output = Float64Array.from(layer.bias);
  for (let row = 0; row < layer.inputSize; row += 1) {
    const value = input[row] ?? 0;
    if (value === 0) {
      continue;
    }
    const offset = row * layer.outputSize;
    for (let column = 0; column < layer.outputSize; column += 1) {
      output[column] = (output[column] ?? 0) + value * (layer.weights[offset + column] ?? 0);
    }
  }
  return output;
}

/** Gradients with the same layout as the layers' weights and biases. */
export interface LayerGradient {
  weights: Float64Array;
  bias: Float64Array;
}

/**
 * Adds the gradient of the binary cross-entropy between the output and a soft target (the monitored
 * model's probability) to `gradients`. For a sigmoid output, dLoss/dLogit = p − target.
 * @param model - The network.
 * @param trace - The forward pass of one row.
 * @param target - The monitored model's probability for the row.
 * @param gradients - Accumulators, one per layer.
 */
export function accumulateGradients(
  model: MlpModel,
  trace: ForwardTrace,
  target: number,
  gradients: LayerGradient[]
): void {
  let delta = new Float64Array([trace.probability - target]);

  for (let layerIndex = model.layers.length - 1; layerIndex >= 0; layerIndex -= 1) {
    const layer = model.layers[layerIndex];
    const gradient = gradients[layerIndex];
    const input = trace.layerInputs[layerIndex];
    if (layer === undefined || gradient === undefined || input === undefined) {
      throw new Error(`Layer ${String(layerIndex)} is missing from the trace or the gradients.`);
    }

    for (let row = 0; row < layer.inputSize; row += 1) {
      const value = input[row] ?? 0;
      const offset = row * layer.outputSize;
      for (let column = 0; column < layer.outputSize; column += 1) {
        gradient.weights[offset + column] =
          (gradient.weights[offset + column] ?? 0) + value * (delta[column] ?? 0);
      }
    }
    for (let column = 0; column < layer.outputSize; column += 1) {
      gradient.bias[column] = (gradient.bias[column] ?? 0) + (delta[column] ?? 0);
    }
    if (layerIndex === 0) {
      return;
    }

    // Back through the previous hidden layer's dropout mask and ReLU.
    const previous = new Float64Array(layer.inputSize);
    const preActivation = trace.hiddenPreActivations[layerIndex - 1];
    const mask = trace.masks[layerIndex - 1];
    for (let row = 0; row < layer.inputSize; row += 1) {
      if ((preActivation?.[row] ?? 0) <= 0) {
        continue;
      }
      let sum = 0;
      const offset = row * layer.outputSize;
      for (let column = 0; column < layer.outputSize; column += 1) {
        sum += (layer.weights[offset + column] ?? 0) * (delta[column] ?? 0);
      }
      previous[row] = sum * (mask?.[row] ?? 1);
    }
    delta = previous;
  }
}
