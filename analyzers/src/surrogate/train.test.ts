/**
 * Surrogate training on a seeded synthetic task, and the ONNX export checked against the TypeScript
 * forward pass.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { featureNames, featureSpecFor, type SurrogateFeatureSpec } from './features.js';
import { averageRanks, computeFidelity } from './fidelity.js';
import { forward } from './mlp.js';
import {
  exportMlpToOnnx,
  readOnnxMetadata,
  SURROGATE_INPUT_NAME,
  SURROGATE_OUTPUT_NAME,
} from './onnx-export.js';
import { syntheticSepsisPairs } from './synthetic-pairs.js';
import { MIN_TRAINING_PAIRS, TrainingDataError, trainSurrogate, trainSurrogateYielding } from './train.js';

function sepsisSpec(): SurrogateFeatureSpec {
  const spec = featureSpecFor('sepsis-risk');
  assert.ok(spec !== undefined);
  return spec;
}

const FAST = { hiddenSizes: [16, 16], maxEpochs: 150 };

void describe('surrogate training', () => {
  void it('fidelity on held-out pairs clears the bar', () => {
    const pairs = syntheticSepsisPairs(sepsisSpec(), 600, 7);
    const result = trainSurrogate(pairs, 0.5, FAST);

    assert.equal(result.splitSizes.test, 90);
    assert.equal(result.fidelity.n, 90);
    // Bar for this task: the network can represent the monitored model's function almost exactly.
    assert.ok(result.fidelity.meanAbsoluteError < 0.05, `MAE ${String(result.fidelity.meanAbsoluteError)}`);
    assert.ok(result.fidelity.pearson > 0.97, `Pearson ${String(result.fidelity.pearson)}`);
    assert.ok(result.fidelity.spearman > 0.97, `Spearman ${String(result.fidelity.spearman)}`);
    assert.ok(result.fidelity.callAgreement >= 0.93, `agreement ${String(result.fidelity.callAgreement)}`);
    assert.ok(result.bestEpoch >= 1);
    assert.ok(result.bestEpoch <= result.epochsRun);
  });

  void it('same seed trains the same weights', () => {
    const pairs = syntheticSepsisPairs(sepsisSpec(), 200, 3);
    const options = { hiddenSizes: [8], maxEpochs: 20 };
    const first = trainSurrogate(pairs, 0.5, options);
    const second = trainSurrogate(pairs, 0.5, options);
    assert.deepEqual(first.model.layers[0]?.weights, second.model.layers[0]?.weights);
    assert.deepEqual(first.fidelity, second.fidelity);

    const other = trainSurrogate(pairs, 0.5, { ...options, seed: 2 });
    assert.notDeepEqual(first.model.layers[0]?.weights, other.model.layers[0]?.weights);
  });

  void it('yielding training equals synchronous', async () => {
    const pairs = syntheticSepsisPairs(sepsisSpec(), 200, 4);
    const options = { hiddenSizes: [8], maxEpochs: 15 };
    const synchronous = trainSurrogate(pairs, 0.5, options);

    // Count event-loop turns during the training, to show that it gives the loop a turn per epoch.
    let turns = 0;
    const ticker = setInterval(() => {
      turns += 1;
    }, 0);
    const yielding = await trainSurrogateYielding(pairs, 0.5, options).finally(() => {
      clearInterval(ticker);
    });

    assert.deepEqual(yielding.model.layers, synchronous.model.layers);
    assert.deepEqual(yielding.fidelity, synchronous.fidelity);
    assert.equal(yielding.epochsRun, synchronous.epochsRun);
    assert.ok(turns >= 1, `timer ran ${String(turns)} times`);
  });

  void it('too few pairs names the minimum', () => {
    const pairs = syntheticSepsisPairs(sepsisSpec(), MIN_TRAINING_PAIRS - 1, 3);
    assert.throws(
      () => trainSurrogate(pairs, 0.5),
      (err: unknown) =>
        err instanceof TrainingDataError &&
        err.message.includes(`at least ${String(MIN_TRAINING_PAIRS)} needed`)
    );
  });

  void it('invalid probability is rejected', () => {
    const pairs = syntheticSepsisPairs(sepsisSpec(), 50, 3);
    const broken = pairs.map((pair, index) => (index === 4 ? { ...pair, probability: 1.2 } : pair));
    assert.throws(() => trainSurrogate(broken, 0.5), /Invalid pair 4: probability 1.2/);
  });
});

void describe('surrogate ONNX export', () => {
  void it('ONNX output matches TypeScript forward', async () => {
    const spec = sepsisSpec();
    const pairs = syntheticSepsisPairs(spec, 300, 5);
    const { model } = trainSurrogate(pairs, 0.5, { hiddenSizes: [16, 16], maxEpochs: 30 });
    const names = featureNames(spec);
    const bytes = exportMlpToOnnx(model, {
      dropout: 'off',
      metadata: { modelId: 'sepsis-risk' },
      featureNames: names,
    });

    const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all' });
    try {
      assert.deepEqual(session.inputNames, [SURROGATE_INPUT_NAME]);
      assert.deepEqual(session.outputNames, [SURROGATE_OUTPUT_NAME]);
      const rows = pairs.slice(0, 100).map((pair) => pair.features);
      const input = new ort.Tensor('float64', Float64Array.from(rows.flat()), [rows.length, names.length]);
      const output = await session.run({ [SURROGATE_INPUT_NAME]: input });
      const values = output[SURROGATE_OUTPUT_NAME]?.data;
      assert.ok(values instanceof Float64Array);
      assert.deepEqual(output[SURROGATE_OUTPUT_NAME]?.dims, [100, 1]);
      for (const [index, row] of rows.entries()) {
        const difference = Math.abs((values[index] ?? Number.NaN) - forward(model, row).probability);
        assert.ok(difference < 1e-6, `row ${String(index)} differs by ${String(difference)}`);
      }
    } finally {
      await session.release();
    }
  });

  void it('metadata and opset are stored', () => {
    const spec = sepsisSpec();
    const { model } = trainSurrogate(syntheticSepsisPairs(spec, 60, 5), 0.5, {
      hiddenSizes: [4],
      maxEpochs: 2,
    });
    const bytes = exportMlpToOnnx(model, {
      dropout: 'random-mask',
      metadata: { modelId: 'sepsis-risk', surrogateVersion: '3' },
      featureNames: featureNames(spec),
    });
    const metadata = readOnnxMetadata(bytes);
    assert.equal(metadata['modelId'], 'sepsis-risk');
    assert.equal(metadata['surrogateVersion'], '3');
    assert.deepEqual(JSON.parse(metadata['featureNames'] ?? '[]'), featureNames(spec));
    assert.throws(
      () => exportMlpToOnnx(model, { dropout: 'off', metadata: {}, featureNames: ['only-one'] }),
      /1 given for a network with 14 inputs/
    );
  });
});

void describe('fidelity metrics', () => {
  void it('ties get average ranks', () => {
    assert.deepEqual(averageRanks([0.3, 0.1, 0.3, 0.2]), [3.5, 1, 3.5, 2]);
  });

  void it('fidelity of a known case', () => {
    const fidelity = computeFidelity([0.1, 0.6, 0.4, 0.9], [0.2, 0.7, 0.6, 0.8], 0.5);
    assert.ok(Math.abs(fidelity.meanAbsoluteError - 0.125) < 1e-15);
    assert.equal(fidelity.callAgreement, 0.75);
    assert.equal(fidelity.spearman, 1);
    assert.ok(fidelity.pearson > 0.9);
    assert.ok(fidelity.pearson < 1);
  });
});
