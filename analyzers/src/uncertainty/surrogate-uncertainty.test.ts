/**
 * SurrogateUncertainty on the real peers: it follows the active surrogate version and returns nothing when
 * the model has no surrogate or the patient no inputs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectMongo, createLogger, type MongoHandle } from '@monitormed/common';
import {
  featureNames,
  featureSpecFor,
  registerFeatureSpec,
  type SurrogateFeatureSpec,
} from '../surrogate/features.js';
import { exportMlpToOnnx } from '../surrogate/onnx-export.js';
import { SurrogateStore } from '../surrogate/store.js';
import { syntheticSepsisPairs } from '../surrogate/synthetic-pairs.js';
import { trainSurrogate } from '../surrogate/train.js';
import { createTestPatient, createTestRun, dropTestDatabase, requirePeers } from '../testing/stack.js';
import { SurrogateUncertainty } from './surrogate-uncertainty.js';

const run = createTestRun();
const EFFECTIVE = '2025-05-05T12:00:00Z';
let mongo: MongoHandle | undefined;
let store: SurrogateStore;
let spec: SurrogateFeatureSpec;
let patientId = '';

async function saveSurrogate(seed: number): Promise<number> {
  const { model, fidelity, splitSizes } = trainSurrogate(syntheticSepsisPairs(spec, 120, seed), 0.5, {
    hiddenSizes: [8],
    maxEpochs: 5,
  });
  const stored = await store.saveVersion(
    {
      modelId: spec.modelId,
      featureNames: featureNames(spec),
      trainingSize: 120,
      splitSizes,
      fidelity,
      dropoutRate: model.dropoutRate,
      hiddenSizes: [8],
      lookbackHours: 24,
      source: 'csv',
      trainedAt: new Date(),
    },
    () => exportMlpToOnnx(model, { dropout: 'random-mask', metadata: {}, featureNames: featureNames(spec) })
  );
  return stored.version;
}

void describe('surrogate uncertainty estimator', () => {
  before(async () => {
    await requirePeers(run.config);
    const sepsis = featureSpecFor('sepsis-risk');
    assert.ok(sepsis !== undefined);
    spec = { ...sepsis, modelId: `estimator-${run.runId}` };
    registerFeatureSpec(spec);
    mongo = await connectMongo(run.config);
    store = new SurrogateStore(mongo.db);
    await store.ensureIndexes();

    patientId = await createTestPatient(run);
    await run.fhir.create({
      resourceType: 'Observation',
      body: {
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '9279-1' }] },
        subject: { reference: `Patient/${patientId}` },
        effectiveDateTime: '2025-05-05T10:00:00Z',
        valueQuantity: { value: 26 },
      },
    });
  });

  after(async () => {
    await mongo?.client.close();
    await dropTestDatabase(run.config);
  });

  void it('follows the active surrogate version', async () => {
    const estimator = new SurrogateUncertainty(run.fhir, store, createLogger('test', 'warn'), {
      samples: 12,
      refreshMs: 0,
    });
    try {
      assert.equal(await estimator.estimate(spec.modelId, patientId, EFFECTIVE), undefined);

      assert.equal(await saveSurrogate(1), 1);
      const first = await estimator.estimate(spec.modelId, patientId, EFFECTIVE);
      assert.equal(first?.surrogateVersion, 1);
      assert.equal(first.samples, 12);

      assert.equal(await saveSurrogate(2), 2);
      assert.equal((await estimator.estimate(spec.modelId, patientId, EFFECTIVE))?.surrogateVersion, 2);

      assert.equal(await store.activate(spec.modelId, 1), true);
      assert.equal((await estimator.estimate(spec.modelId, patientId, EFFECTIVE))?.surrogateVersion, 1);
    } finally {
      await estimator.close();
      await estimator.close();
    }
  });

  void it('returns nothing without inputs or spec', async () => {
    const estimator = new SurrogateUncertainty(run.fhir, store, createLogger('test', 'warn'), {
      samples: 12,
    });
    try {
      const otherPatient = await createTestPatient(run);
      assert.equal(await estimator.estimate(spec.modelId, otherPatient, EFFECTIVE), undefined);
      // The surrogate was trained with a 24 h lookback, so a respiratory rate 25 h old is missing.
      assert.equal(await estimator.estimate(spec.modelId, patientId, '2025-05-06T11:00:00Z'), undefined);
      assert.equal(await estimator.estimate('cxr-pneumothorax', patientId, EFFECTIVE), undefined);
    } finally {
      await estimator.close();
    }
  });
});
