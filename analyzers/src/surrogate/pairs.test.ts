/**
 * Pair extraction over the real HAPI FHIR server and surrogate versions in the real FerretDB.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Observation } from '@medplum/fhirtypes';
import { connectMongo, type MongoHandle } from '@monitormed/common';
import {
  createAiObservation,
  createTestModelDevice,
  createTestPatient,
  createTestRun,
  dropTestDatabase,
  requirePeers,
} from '../testing/stack.js';
import { featureSpecFor, type SurrogateFeatureSpec } from './features.js';
import { extractPairs, gatherInputs, ModelDeviceNotFoundError } from './pairs.js';
import {
  MAX_SURROGATE_BYTES,
  SurrogateStore,
  SurrogateTooLargeError,
  surrogateBytes,
  type SurrogateVersionInfo,
} from './store.js';

const run = createTestRun();
const RESULT_TIME = '2025-03-10T12:00:00Z';
const HOUR_MS = 3_600_000;
let spec: SurrogateFeatureSpec;
let deviceId = '';
let patientId = '';
let mongo: MongoHandle | undefined;

function isoAt(offsetHours: number): string {
  return new Date(Date.parse(RESULT_TIME) + offsetHours * HOUR_MS).toISOString();
}

async function createVital(
  code: string,
  value: number,
  offsetHours: number,
  component?: string
): Promise<void> {
  const body: Observation = {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: isoAt(offsetHours),
    ...(component === undefined
      ? { valueQuantity: { value } }
      : {
          component: [
            { code: { coding: [{ system: 'http://loinc.org', code: component }] }, valueQuantity: { value } },
          ],
        }),
  };
  await run.fhir.create({ resourceType: 'Observation', body: { ...body } });
}

void describe('surrogate pairs from FHIR', () => {
  const resultIds: string[] = [];

  before(async () => {
    await requirePeers(run.config);
    const device = await createTestModelDevice(run);
    deviceId = device.deviceId;
    const sepsis = featureSpecFor('sepsis-risk');
    assert.ok(sepsis !== undefined);
    spec = { ...sepsis, modelId: device.modelId };
    patientId = await createTestPatient(run);

    await createVital('8867-4', 70, -100);
    await createVital('8867-4', 110, -2);
    await createVital('85354-9', 95, -1, '8480-6');
    await createVital('38483-4', 1.4, -3);
    await createVital('2524-7', 4, 1);

    for (const [score, offsetHours] of [
      [0.7, 0],
      [0.4, 5],
    ] as const) {
      const created = await createAiObservation(run, {
        deviceId,
        patientId,
        score,
        effective: isoAt(offsetHours),
      });
      resultIds.push(created.id);
    }
    const otherPatient = await createTestPatient(run);
    await createAiObservation(run, { deviceId, patientId: otherPatient, score: 0.2, effective: RESULT_TIME });
  });

  void it('pairs take latest inputs in lookback', async () => {
    const extracted = await extractPairs(run.fhir, spec);
    assert.equal(extracted.resultsRead, 3);
    assert.equal(extracted.skipped.noInputs, 1);
    assert.equal(extracted.pairs.length, 2);

    const first = extracted.pairs.find((pair) => pair.observationId === resultIds[0]);
    assert.deepEqual(first?.values, { heartRate: 110, systolicBp: 95, creatinine: 1.4 });
    assert.equal(first.probability, 0.7);
    // Values in SEPSIS_INPUTS order, population defaults for missing inputs, then the missing indicators.
    assert.deepEqual(first.features, [110, 16, 37, 95, 7.5, 1.2, 1.4, 0, 1, 1, 0, 1, 1, 0]);

    const second = extracted.pairs.find((pair) => pair.observationId === resultIds[1]);
    assert.deepEqual(second?.values, { heartRate: 110, systolicBp: 95, creatinine: 1.4, lactate: 4 });
  });

  void it('pairs honour the date range', async () => {
    const extracted = await extractPairs(run.fhir, spec, { from: isoAt(1), to: isoAt(24) });
    assert.equal(extracted.resultsRead, 1);
    assert.equal(extracted.pairs[0]?.observationId, resultIds[1]);
  });

  void it('gatherInputs matches the pair values', async () => {
    const values = await gatherInputs(run.fhir, spec, patientId, Date.parse(RESULT_TIME));
    assert.deepEqual(values, { heartRate: 110, systolicBp: 95, creatinine: 1.4 });
  });

  void it('unknown model has no Device', async () => {
    await assert.rejects(
      extractPairs(run.fhir, { ...spec, modelId: `absent-${run.runId}` }),
      (err: unknown) => err instanceof ModelDeviceNotFoundError && err.message.includes(`absent-${run.runId}`)
    );
  });
});

void describe('surrogate store', () => {
  before(async () => {
    await requirePeers(run.config);
    mongo = await connectMongo(run.config);
  });

  after(async () => {
    await mongo?.client.close();
    await dropTestDatabase(run.config);
  });

  function info(modelId: string): SurrogateVersionInfo {
    return {
      modelId,
      featureNames: ['a'],
      trainingSize: 100,
      splitSizes: { train: 70, validation: 15, test: 15 },
      fidelity: {
        n: 15,
        meanAbsoluteError: 0.01,
        pearson: 0.99,
        spearman: 0.98,
        callAgreement: 1,
        threshold: 0.5,
      },
      dropoutRate: 0.1,
      hiddenSizes: [8],
      lookbackHours: 72,
      source: 'csv',
      trainedAt: new Date(),
    };
  }

  void it('versions increase and the latest is active', async () => {
    assert.ok(mongo !== undefined);
    const store = new SurrogateStore(mongo.db);
    await store.ensureIndexes();
    const modelId = `versions-${run.runId}`;

    const first = await store.saveVersion(info(modelId), (version) => new Uint8Array([1, 2, version]));
    const second = await store.saveVersion(info(modelId), (version) => new Uint8Array([1, 2, version]));
    assert.equal(first.version, 1);
    assert.equal(second.version, 2);

    const active = await store.findActive(modelId);
    assert.equal(active?.version, 2);
    assert.deepEqual([...surrogateBytes(active)], [1, 2, 2]);
    assert.equal(active.fidelity.pearson, 0.99);

    assert.equal(await store.activate(modelId, 1), true);
    assert.equal((await store.findActive(modelId))?.version, 1);
    assert.equal(await store.activate(modelId, 9), false);
    assert.equal(await store.findActive(`other-${run.runId}`), undefined);
  });

  void it('oversized surrogate is rejected', async () => {
    assert.ok(mongo !== undefined);
    const store = new SurrogateStore(mongo.db);
    await assert.rejects(
      store.saveVersion(info(`large-${run.runId}`), () => new Uint8Array(MAX_SURROGATE_BYTES + 1)),
      SurrogateTooLargeError
    );
    assert.equal(await store.findActive(`large-${run.runId}`), undefined);
  });
});
