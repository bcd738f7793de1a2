/**
 * MC dropout on an exported surrogate: the T passes must vary with dropout on, at every ONNX Runtime graph
 * optimization level, and must be identical with dropout off.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRng } from '@monitormed/synthea-data';
import { binaryEntropyBits } from '../stats/entropy.js';
import { createDenseLayer, forward, type MlpModel } from '../surrogate/mlp.js';
import { exportMlpToOnnx, type DropoutExport } from '../surrogate/onnx-export.js';
import { McDropoutScorer, summarizePasses, type GraphOptimizationLevel } from './mc-dropout.js';

const LEVELS: GraphOptimizationLevel[] = ['disabled', 'basic', 'extended', 'all'];
const FEATURES = ['a', 'b', 'c', 'd'];
const INPUT = [0.4, -1.2, 3, 0];

function buildModel(dropoutRate: number): MlpModel {
  const rng = createRng(11);
  return {
    normalization: { mean: new Float64Array([0, 1, 2, 0]), scale: new Float64Array([1, 2, 1, 1]) },
    layers: [
      createDenseLayer(4, 24, () => rng.next()),
      createDenseLayer(24, 24, () => rng.next()),
      createDenseLayer(24, 1, () => rng.next()),
    ],
    dropoutRate,
  };
}

async function passesAt(
  model: MlpModel,
  dropout: DropoutExport,
  level: GraphOptimizationLevel
): Promise<Float64Array> {
  const bytes = exportMlpToOnnx(model, { dropout, metadata: {}, featureNames: FEATURES });
  const scorer = await McDropoutScorer.create(bytes, FEATURES.length, { graphOptimizationLevel: level });
  try {
    const [passes] = await scorer.samplePasses([INPUT], 30);
    assert.ok(passes !== undefined);
    return passes;
  } finally {
    await scorer.close();
  }
}

void describe('MC dropout on ONNX Runtime', () => {
  for (const level of LEVELS) {
    void it(`passes differ with dropout at ${level}`, async () => {
      const passes = await passesAt(buildModel(0.3), 'random-mask', level);
      const estimate = summarizePasses(passes);
      assert.equal(passes.length, 30);
      assert.ok(estimate.std > 0, `std is ${String(estimate.std)}; dropout was removed from the graph`);
      assert.ok(new Set(passes).size >= 10, `only ${String(new Set(passes).size)} distinct pass values`);
    });

    void it(`passes are identical without dropout at ${level}`, async () => {
      const model = buildModel(0.3);
      const passes = await passesAt(model, 'off', level);
      assert.equal(new Set(passes).size, 1);
      assert.ok(Math.abs((passes[0] ?? 0) - forward(model, INPUT).probability) < 1e-12);
    });

    void it(`passes are identical at rate 0 at ${level}`, async () => {
      const passes = await passesAt(buildModel(0), 'random-mask', level);
      assert.equal(new Set(passes).size, 1);
    });
  }

  void it('ONNX Dropout is removed by optimization', async () => {
    // onnxruntime-node 1.30.0 drops Dropout nodes from level 'basic' on, even with training_mode = true.
    // This is why the export builds its masks from RandomUniformLike; if ONNX Runtime changes that,
    // this test fails.
    const unoptimized = await passesAt(buildModel(0.3), 'onnx-dropout', 'disabled');
    assert.ok(new Set(unoptimized).size > 1);
    const optimized = await passesAt(buildModel(0.3), 'onnx-dropout', 'all');
    assert.equal(new Set(optimized).size, 1);
  });

  void it('batched passes match TypeScript dropout', async () => {
    const model = buildModel(0.3);
    const bytes = exportMlpToOnnx(model, { dropout: 'random-mask', metadata: {}, featureNames: FEATURES });
    const scorer = await McDropoutScorer.create(bytes, FEATURES.length);
    const samples = 2000;
    try {
      const rows = [INPUT, [5, 5, 5, 5], [-3, 0, 1, 1]];
      const estimates = await scorer.estimate(rows, samples);
      assert.equal(estimates.length, 3);

      // The same network with the same dropout in TypeScript: the ONNX masks must follow the same
      // distribution, so the two MC means agree within 5 standard errors of their difference.
      const rng = createRng(5);
      for (const [index, row] of rows.entries()) {
        const estimate = estimates[index];
        assert.ok(estimate !== undefined);
        assert.equal(estimate.samples, samples);
        const reference = summarizePasses(
          Array.from({ length: samples }, () => forward(model, row, () => rng.next()).probability)
        );
        const standardError = Math.sqrt((estimate.std ** 2 + reference.std ** 2) / samples);
        assert.ok(estimate.std > 0);
        assert.ok(
          Math.abs(estimate.mean - reference.mean) < 5 * standardError,
          `row ${String(index)}: ONNX mean ${String(estimate.mean)}, TypeScript mean ${String(reference.mean)}`
        );
        assert.ok(Math.abs(estimate.std - reference.std) < 0.1 * reference.std + 1e-9);
      }
    } finally {
      await scorer.close();
      await scorer.close();
    }
  });

  void it('rejects a row of the wrong width', async () => {
    const bytes = exportMlpToOnnx(buildModel(0.3), {
      dropout: 'random-mask',
      metadata: {},
      featureNames: FEATURES,
    });
    const scorer = await McDropoutScorer.create(bytes, FEATURES.length);
    try {
      await assert.rejects(scorer.estimate([[1, 2]]), /2 values, expected 4/);
      await assert.rejects(scorer.estimate([INPUT], 1), /at least 2/);
    } finally {
      await scorer.close();
    }
  });
});

void describe('MC dropout summary', () => {
  void it('summary matches hand computation', () => {
    const passes = [0.2, 0.4, 0.9];
    const estimate = summarizePasses(passes);
    const mean = 0.5;
    const std = Math.sqrt(((0.2 - mean) ** 2 + (0.4 - mean) ** 2 + (0.9 - mean) ** 2) / 3);
    const expected = (binaryEntropyBits(0.2) + binaryEntropyBits(0.4) + binaryEntropyBits(0.9)) / 3;
    assert.ok(Math.abs(estimate.mean - mean) < 1e-15);
    assert.ok(Math.abs(estimate.std - std) < 1e-15);
    assert.equal(estimate.predictiveEntropyBits, 1);
    assert.ok(Math.abs(estimate.expectedEntropyBits - expected) < 1e-15);
    assert.ok(Math.abs(estimate.mutualInformationBits - (1 - expected)) < 1e-15);
  });

  void it('identical passes have zero information', () => {
    const estimate = summarizePasses([0.3, 0.3, 0.3]);
    assert.equal(estimate.std, 0);
    assert.equal(estimate.mutualInformationBits, 0);
    assert.ok(Math.abs(estimate.predictiveEntropyBits - binaryEntropyBits(0.3)) < 1e-15);
  });
});
