/**
 * Uncertainty drift on seeded data: KS of uncertainty scores, with and without a shift.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRng } from '@monitormed/synthea-data';
import { featureSpecFor, type InputValues } from '../surrogate/features.js';
import { forward, type MlpModel } from '../surrogate/mlp.js';
import { syntheticSepsisPairs } from '../surrogate/synthetic-pairs.js';
import { encodeFeatures } from '../surrogate/features.js';
import { trainSurrogate } from '../surrogate/train.js';
import { generateSample } from '../testing/seeded-samples.js';
import { ksTwoSample } from '../stats/ks.js';
import { summarizePasses } from './mc-dropout.js';
import { testUncertaintyDrift } from './uncertainty-drift.js';

const OPTIONS = { pThreshold: 0.01, minN: 10 };

/** Mutual information of TypeScript MC dropout (seeded, 30 passes) for each input row. */
function mutualInformation(model: MlpModel, rows: readonly (readonly number[])[], seed: number): number[] {
  const rng = createRng(seed);
  return rows.map(
    (row) =>
      summarizePasses(Array.from({ length: 30 }, () => forward(model, row, () => rng.next()).probability))
        .mutualInformationBits
  );
}

void describe('uncertainty drift', () => {
  void it('shifted scores are detected', () => {
    const reference = generateSample({ seed: 1, n: 200, shift: 0.1, scale: 0.5, terms: 3 });
    const current = generateSample({ seed: 2, n: 80, shift: 0.3, scale: 0.5, terms: 3 });
    const result = testUncertaintyDrift(reference, current, OPTIONS);
    assert.equal(result.status, 'drift');
    assert.equal(result.detected, true);
    assert.ok(result.pValue < 1e-6);
    assert.equal(result.nReference, 200);
    assert.equal(result.nCurrent, 80);
  });

  void it('same distribution is not detected', () => {
    const reference = generateSample({ seed: 1, n: 200, shift: 0.1, scale: 0.5, terms: 3 });
    const current = generateSample({ seed: 3, n: 80, shift: 0.1, scale: 0.5, terms: 3 });
    const result = testUncertaintyDrift(reference, current, OPTIONS);
    assert.equal(result.status, 'no-drift');
    assert.equal(result.detected, false);
    assert.ok(result.pValue > 0.05);
  });

  void it('statistic and p-value are the KS test', () => {
    const reference = generateSample({ seed: 4, n: 50, shift: 0, scale: 1, terms: 2 });
    const current = generateSample({ seed: 5, n: 30, shift: 0.2, scale: 1, terms: 2 });
    const result = testUncertaintyDrift(reference, current, OPTIONS);
    const ks = ksTwoSample(current, reference);
    assert.equal(result.statistic, ks.statistic);
    assert.equal(result.pValue, ks.pValue);
  });

  void it('small window is insufficient data', () => {
    const reference = generateSample({ seed: 1, n: 200, shift: 0.1, scale: 0.5, terms: 3 });
    const current = generateSample({ seed: 2, n: 5, shift: 0.6, scale: 0.1, terms: 3 });
    const result = testUncertaintyDrift(reference, current, OPTIONS);
    assert.equal(result.status, 'insufficient-data');
    assert.equal(result.detected, false);
  });

  void it('MC dropout information drifts on unseen inputs', () => {
    const spec = featureSpecFor('sepsis-risk');
    assert.ok(spec !== undefined);
    const { model } = trainSurrogate(syntheticSepsisPairs(spec, 400, 13), 0.5, {
      hiddenSizes: [32, 32],
      dropoutRate: 0.2,
      maxEpochs: 60,
    });

    // Reference and an in-distribution window: fresh patients from the training distribution.
    const reference = mutualInformation(
      model,
      syntheticSepsisPairs(spec, 150, 101).map((pair) => pair.features),
      1
    );
    const same = mutualInformation(
      model,
      syntheticSepsisPairs(spec, 60, 102).map((pair) => pair.features),
      2
    );

    // Shifted window: lactate and creatinine far outside anything in training, as after a unit change.
    const shiftedRows = syntheticSepsisPairs(spec, 60, 103).map((pair) => {
      const values: InputValues = {
        ...pair.values,
        lactate: 18 + (pair.values['lactate'] ?? 1),
        creatinine: 9,
      };
      return encodeFeatures(spec, values);
    });
    const shifted = mutualInformation(model, shiftedRows, 3);

    assert.equal(testUncertaintyDrift(reference, same, OPTIONS).detected, false);
    const drift = testUncertaintyDrift(reference, shifted, OPTIONS);
    assert.equal(drift.detected, true, `p = ${String(drift.pValue)}`);
  });
});
