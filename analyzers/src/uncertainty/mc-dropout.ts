/**
 * Monte Carlo dropout (dropout kept active at inference, one network sample per pass) on a surrogate ONNX
 * model run by onnxruntime-node: T stochastic forward passes per input, all in one batched session run.
 */
import * as ort from 'onnxruntime-node';
import { SURROGATE_INPUT_NAME, SURROGATE_OUTPUT_NAME } from '../surrogate/onnx-export.js';
import { binaryEntropyBits } from '../stats/entropy.js';

/** Default number of stochastic passes per input. */
export const DEFAULT_MC_SAMPLES = 30;

/** The graph optimization level production uses; the tests check the others too. */
export const PRODUCTION_OPTIMIZATION_LEVEL = 'all';

/** ONNX Runtime graph optimization levels, from none to every rewrite. */
export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

/** MC dropout summary of one input. */
export interface McDropoutEstimate {
  /** Mean of the T pass probabilities. */
  mean: number;
  /** Population standard deviation (divisor T) of the T pass probabilities. */
  std: number;
  /** Binary entropy of the mean probability, in bits (total predictive uncertainty). */
  predictiveEntropyBits: number;
  /** Mean of the per-pass binary entropies, in bits (the expected aleatoric part). */
  expectedEntropyBits: number;
  /**
   * Mutual information between the prediction and the network weights, in bits: predictive entropy minus
   * expected entropy, the BALD score. It is the epistemic part of the uncertainty.
   */
  mutualInformationBits: number;
  /** Number of passes T. */
  samples: number;
}

/** Options of {@link McDropoutScorer.create}. */
export interface McDropoutScorerOptions {
  /** Graph optimization level of the session; defaults to {@link PRODUCTION_OPTIMIZATION_LEVEL}. */
  graphOptimizationLevel?: GraphOptimizationLevel;
  /** Threads of one operator; defaults to 1 so that several workers share the CPU fairly. */
  intraOpNumThreads?: number;
}

/** Runs MC dropout on one surrogate ONNX model; create one per model version and reuse it. */
export class McDropoutScorer {
  private released = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    /** Number of input features the model expects. */
    readonly featureCount: number
  ) {}

  /**
   * Loads a surrogate ONNX model exported by exportMlpToOnnx().
   * @param onnxBytes - The ModelProto bytes.
   * @param featureCount - Columns of the model's input.
   * @param options - Session options.
   * @returns The scorer.
   * @throws Error from ONNX Runtime when the bytes are not a valid model.
   */
  static async create(
    onnxBytes: Uint8Array,
    featureCount: number,
    options: McDropoutScorerOptions = {}
  ): Promise<McDropoutScorer> {
    const session = await ort.InferenceSession.create(onnxBytes, {
      graphOptimizationLevel: options.graphOptimizationLevel ?? PRODUCTION_OPTIMIZATION_LEVEL,
      intraOpNumThreads: options.intraOpNumThreads ?? 1,
      executionProviders: ['cpu'],
    });
    return new McDropoutScorer(session, featureCount);
  }

  /**
   * Runs the T passes of every row in one session run. Each row is tiled T times along the batch axis, so
   * row r's pass t is batch row r·T + t, and each batch row draws its own dropout masks.
   * @param rows - Raw feature rows, each of {@link featureCount} values.
   * @param samples - Passes per row, T.
   * @returns The T probabilities of every row.
   * @throws RangeError on a row of the wrong length or a non-finite value, or a T below 1.
   */
  async samplePasses(
    rows: readonly (readonly number[])[],
    samples = DEFAULT_MC_SAMPLES
  ): Promise<Float64Array[]> {
    if (this.released) {
      throw new Error('The MC dropout scorer was closed; create a new one.');
    }
    if (!Number.isInteger(samples) || samples < 1) {
      throw new RangeError(`Invalid pass count ${String(samples)}: expected a whole number of at least 1.`);
    }
    if (rows.length === 0) {
      return [];
    }

    const width = this.featureCount;
    const batch = new Float64Array(rows.length * samples * width);
    for (const [rowIndex, row] of rows.entries()) {
      if (row.length !== width) {
        throw new RangeError(
          `Invalid feature row ${String(rowIndex)}: ${String(row.length)} values, expected ${String(width)}.`
        );
      }
      if (!row.every((value) => Number.isFinite(value))) {
        throw new RangeError(`Invalid feature row ${String(rowIndex)}: every value must be a finite number.`);
      }
      for (let pass = 0; pass < samples; pass += 1) {
        batch.set(row, (rowIndex * samples + pass) * width);
      }
    }

    const input = new ort.Tensor('float64', batch, [rows.length * samples, width]);
    const output = await this.session.run({ [SURROGATE_INPUT_NAME]: input });
    const probabilities = output[SURROGATE_OUTPUT_NAME]?.data;
    if (!(probabilities instanceof Float64Array)) {
      throw new Error(`The surrogate model has no double output named "${SURROGATE_OUTPUT_NAME}".`);
    }

    const passes: Float64Array[] = [];
    for (let rowIndex = 0; rowIndex < rows.length; rowIndex += 1) {
      passes.push(probabilities.slice(rowIndex * samples, (rowIndex + 1) * samples));
    }
    return passes;
  }

  /**
   * Estimates the MC dropout uncertainty of every row with one batched session run.
   * @param rows - Raw feature rows.
   * @param samples - Passes per row, T.
   * @returns One estimate per row, in order.
   * @throws RangeError as {@link samplePasses} does, or when T is below 2, which has no spread to measure.
   */
  async estimate(
    rows: readonly (readonly number[])[],
    samples = DEFAULT_MC_SAMPLES
  ): Promise<McDropoutEstimate[]> {
    if (!Number.isInteger(samples) || samples < 2) {
      throw new RangeError(
        `Invalid MC dropout sample count ${String(samples)}: expected a whole number of at least 2.`
      );
    }
    const passes = await this.samplePasses(rows, samples);
    return passes.map((probabilities) => summarizePasses(probabilities));
  }

  /** Releases the ONNX Runtime session; safe to call twice. */
  async close(): Promise<void> {
    if (this.released) {
      return;
    }
    this.released = true;
    await this.session.release();
  }
}

/**
 * Summarises T pass probabilities of one input as mean, standard deviation, predictive entropy and
 * mutual information (BALD).
 * @param probabilities - The T probabilities, each from 0 to 1.
 * @returns The estimate.
 * @throws RangeError when there are no probabilities or one is outside [0, 1].
 */
export function summarizePasses(probabilities: ArrayLike<number>): McDropoutEstimate {
  const samples = probabilities.length;
  if (samples === 0) {
    throw new RangeError('Invalid MC dropout passes: at least one probability is needed.');
  }

  let sum = 0;
  let entropySum = 0;
  for (let index = 0; index < samples; index += 1) {
    const probability = probabilities[index] ?? Number.NaN;
    sum += probability;
    entropySum += binaryEntropyBits(probability);
  }
  const mean = sum / samples;

  let squares = 0;
  for (let index = 0; index < samples; index += 1) {
    squares += ((probabilities[index] ?? 0) - mean) ** 2;
  }

  // Rounding can push the mean a hair past 1 when every pass is 1.
  const predictiveEntropyBits = binaryEntropyBits(Math.min(1, Math.max(0, mean)));
  const expectedEntropyBits = entropySum / samples;
  return {
    mean,
    std: Math.sqrt(squares / samples),
    predictiveEntropyBits,
    expectedEntropyBits,
    // Entropy is concave, so the difference is never negative; only rounding can make it so.
    mutualInformationBits: Math.max(0, predictiveEntropyBits - expectedEntropyBits),
    samples,
  };
}
