/**
 * The analyzer worker on the real peers: a result of a model with an active surrogate gets MC dropout
 * uncertainty, and a result whose inputs cannot be gathered falls back to the reported probability's entropy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Extension, Observation } from '@medplum/fhirtypes';
import {
  AIAST_SEARCH,
  COLLECTIONS,
  connectMongo,
  UNCERTAINTY_EXTENSION,
  type MongoHandle,
} from '@monitormed/common';
import { startFhirServerExt, type FhirServerExt } from '@monitormed/fhir-server-ext';
import { startAnalyzers, type Analyzers } from '../analyzers.js';
import { readUncertainty } from '../fhir/extensions.js';
import { binaryEntropyBits } from '../stats/entropy.js';
import type { AiResultDocument, MetricDocument } from '../store/documents.js';
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
import {
  createAiObservation,
  createTestModelDevice,
  createTestPatient,
  createTestRun,
  dropTestDatabase,
  requirePeers,
  waitFor,
} from '../testing/stack.js';

const run = createTestRun();
let server: FhirServerExt | undefined;
let analyzers: Analyzers | undefined;
let mongo: MongoHandle | undefined;
let deviceId = '';
let spec: SurrogateFeatureSpec;

function part(extension: Extension | undefined, url: string): Extension | undefined {
  return extension?.extension?.find((entry) => entry.url === url);
}

async function waitForUncertainty(id: string): Promise<Extension> {
  return waitFor(`UNCERTAINTY_EXTENSION on Observation/${id}`, async () => {
    const observation = (await run.fhir.read({ resourceType: 'Observation', id })) as unknown as Observation;
    return readUncertainty(observation.extension) === undefined
      ? undefined
      : observation.extension?.find((extension) => extension.url === UNCERTAINTY_EXTENSION);
  });
}

void describe('worker MC dropout uncertainty', () => {
  before(async () => {
    await requirePeers(run.config);
    const device = await createTestModelDevice(run);
    deviceId = device.deviceId;
    const sepsis = featureSpecFor('sepsis-risk');
    assert.ok(sepsis !== undefined);
    spec = { ...sepsis, modelId: device.modelId };
    registerFeatureSpec(spec);

    // An active surrogate for the run's model, trained on synthetic pairs.
    mongo = await connectMongo(run.config);
    const { model, fidelity, splitSizes } = trainSurrogate(syntheticSepsisPairs(spec, 200, 9), 0.5, {
      hiddenSizes: [16],
      maxEpochs: 20,
    });
    const store = new SurrogateStore(mongo.db);
    await store.ensureIndexes();
    await store.saveVersion(
      {
        modelId: device.modelId,
        featureNames: featureNames(spec),
        trainingSize: 200,
        splitSizes,
        fidelity,
        dropoutRate: model.dropoutRate,
        hiddenSizes: [16],
        lookbackHours: 72,
        source: 'csv',
        trainedAt: new Date(),
      },
      () => exportMlpToOnnx(model, { dropout: 'random-mask', metadata: {}, featureNames: featureNames(spec) })
    );

    server = await startFhirServerExt({
      config: run.config,
      port: 0,
      subscriptionOwner: `test-${run.runId}`,
      subscriptionCriteria: `Observation?_security=${AIAST_SEARCH}&device=Device/${deviceId}`,
      removeSubscriptionOnClose: true,
      queuePrefix: run.queuePrefix,
    });
    analyzers = await startAnalyzers({
      config: run.config,
      queuePrefix: run.queuePrefix,
      // One reference window, so the second day is tested for drift.
      settings: { driftDebounceMs: 200, driftReferenceWindows: 1, driftMinWindowN: 2 },
    });
  });

  after(async () => {
    await analyzers?.close();
    await analyzers?.close();
    await server?.close();
    await mongo?.client.close();
    await dropTestDatabase(run.config);
  });

  void it('result with inputs gets mc-dropout', async () => {
    const patientId = await createTestPatient(run);
    await run.fhir.create({
      resourceType: 'Observation',
      body: {
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
        subject: { reference: `Patient/${patientId}` },
        effectiveDateTime: '2025-04-01T08:00:00Z',
        valueQuantity: { value: 124 },
      },
    });
    const created = await createAiObservation(run, {
      deviceId,
      patientId,
      score: 0.35,
      effective: '2025-04-01T09:00:00Z',
    });

    const extension = await waitForUncertainty(created.id);
    assert.equal(part(extension, 'method')?.valueCode, 'mc-dropout');
    assert.ok(Math.abs((part(extension, 'value')?.valueDecimal ?? 0) - binaryEntropyBits(0.35)) < 1e-12);
    assert.equal(part(extension, 'samples')?.valueInteger, 30);
    assert.equal(part(extension, 'surrogateVersion')?.valueString, '1');
    const mean = part(extension, 'mean')?.valueDecimal ?? -1;
    const std = part(extension, 'std')?.valueDecimal ?? -1;
    const information = part(extension, 'mutualInformation')?.valueDecimal ?? -1;
    assert.ok(mean > 0, `mean ${String(mean)}`);
    assert.ok(mean < 1, `mean ${String(mean)}`);
    assert.ok(std > 0, `std ${String(std)}`);
    assert.ok(information >= 0);
    assert.ok(information <= (part(extension, 'predictiveEntropy')?.valueDecimal ?? 0));

    const document = await mongo?.db
      .collection<AiResultDocument>(COLLECTIONS.aiResults)
      .findOne({ observationId: created.id });
    assert.equal(document?.uncertaintyMethod, 'mc-dropout');
    assert.equal(document.surrogateVersion, 1);
    assert.equal(document.mcSamples, 30);
    assert.ok(Math.abs((document.mcMean ?? -1) - mean) < 1e-12);
    assert.ok(Math.abs((document.mcMutualInformation ?? -1) - information) < 1e-12);
  });

  void it('result without inputs falls back to entropy', async () => {
    const patientId = await createTestPatient(run);
    const created = await createAiObservation(run, {
      deviceId,
      patientId,
      score: 0.8,
      effective: '2025-04-01T10:00:00Z',
    });

    const extension = await waitForUncertainty(created.id);
    assert.equal(part(extension, 'method')?.valueCode, 'entropy');
    assert.equal(part(extension, 'samples'), undefined);
    const document = await mongo?.db
      .collection<AiResultDocument>(COLLECTIONS.aiResults)
      .findOne({ observationId: created.id });
    assert.equal(document?.uncertaintyMethod, 'entropy');
    assert.equal(document.mcMean, undefined);
  });

  void it('tested window gets uncertainty drift metrics', async () => {
    const patientId = await createTestPatient(run);
    await run.fhir.create({
      resourceType: 'Observation',
      body: {
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '2524-7' }] },
        subject: { reference: `Patient/${patientId}` },
        effectiveDateTime: '2025-04-02T06:00:00Z',
        valueQuantity: { value: 3.1 },
      },
    });
    for (const [score, hour] of [
      [0.6, '07'],
      [0.75, '08'],
    ] as const) {
      await createAiObservation(run, { deviceId, patientId, score, effective: `2025-04-02T${hour}:00:00Z` });
    }

    const metrics = mongo?.db.collection<MetricDocument>(COLLECTIONS.metrics);
    const information = await waitFor('mc-uncertainty-drift-ks metric with both results', async () => {
      const found = await metrics?.findOne({
        modelId: spec.modelId,
        metric: 'mc-uncertainty-drift-ks',
        window: '2025-04-02',
      });
      return found?.n === 2 ? found : undefined;
    });
    assert.equal(information.referenceN, 1);
    assert.deepEqual(information.referenceWindows, ['2025-04-01']);
    assert.ok(typeof information.value === 'number');
    assert.ok(information.value >= 0);
    assert.ok(information.value <= 1);
    assert.equal(information.status, 'no-drift');

    const entropy = await metrics?.findOne({
      modelId: spec.modelId,
      metric: 'uncertainty-drift-ks',
      window: '2025-04-02',
    });
    assert.equal(entropy?.n, 2);
    assert.equal(entropy.referenceN, 2);
  });
});
