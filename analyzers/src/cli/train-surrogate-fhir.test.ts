/**
 * train-surrogate reading its pairs from the real HAPI FHIR server, run in-process so that the test can
 * register the inputs of its own model id.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Bundle, BundleEntry, Observation, Resource } from '@medplum/fhirtypes';
import { createRng } from '@monitormed/synthea-data';
import { connectMongo } from '@monitormed/common';
import { featureNames, featureSpecFor, registerFeatureSpec } from '../surrogate/features.js';
import { readOnnxMetadata } from '../surrogate/onnx-export.js';
import { SurrogateStore, surrogateBytes } from '../surrogate/store.js';
import {
  buildAiObservation,
  createTestModelDevice,
  createTestPatient,
  createTestRun,
  dropTestDatabase,
  requirePeers,
} from '../testing/stack.js';
import { runTrainSurrogate } from './train-surrogate.js';
import { UsageError } from './usage-error.js';

const run = createTestRun();
const RESULTS_PER_PATIENT = 15;
let folder = '';
let modelId = '';
const previousCatalog = process.env['MONITORMED_MODELS_FILE'];

function vital(patientId: string, code: string, value: number, effective: string): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: effective,
    valueQuantity: { value },
  };
}

void describe('train-surrogate from FHIR', () => {
  before(async () => {
    await requirePeers(run.config);
    const device = await createTestModelDevice(run);
    modelId = device.modelId;

    // A catalog with the run's model, and its inputs registered as the sepsis inputs.
    folder = mkdtempSync(join(tmpdir(), 'monitormed-train-'));
    const catalog = join(folder, 'models.json');
    writeFileSync(
      catalog,
      JSON.stringify([
        {
          modelId,
          name: `Test model ${run.runId}`,
          version: '1.0.0',
          manufacturer: 'MonitorMed tests',
          kind: 'Machine-Learning-Models',
          intendedUse: 'Synthetic model for integration tests',
          match: {},
          outputCode: { system: 'https://monitormed.dev/fhir/CodeSystem/test', code: 'TEST-RISK' },
          positiveThreshold: 0.5,
        },
      ])
    );
    process.env['MONITORMED_MODELS_FILE'] = catalog;
    const sepsis = featureSpecFor('sepsis-risk');
    assert.ok(sepsis !== undefined);
    registerFeatureSpec({ ...sepsis, modelId });

    // Three patients, each with hourly heart rate and lactate, and an AI result one hour after each pair.
    const rng = createRng(77);
    const resources: Resource[] = [];
    for (let patient = 0; patient < 3; patient += 1) {
      const patientId = await createTestPatient(run);
      for (let hour = 0; hour < RESULTS_PER_PATIENT; hour += 1) {
        const heartRate = 70 + 60 * rng.next();
        const lactate = 0.5 + 5 * rng.next();
        const measured = new Date(Date.UTC(2025, 5, 1 + patient, hour)).toISOString();
        const effective = new Date(Date.UTC(2025, 5, 1 + patient, hour, 30)).toISOString();
        const score = 1 / (1 + Math.exp(-(0.05 * (heartRate - 100) + 0.8 * (lactate - 2.5))));
        resources.push(
          vital(patientId, '8867-4', heartRate, measured),
          vital(patientId, '2524-7', lactate, measured)
        );
        resources.push(buildAiObservation({ deviceId: device.deviceId, patientId, score, effective }));
      }
    }
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: resources.map((resource): BundleEntry => ({
        resource,
        request: { method: 'POST', url: resource.resourceType },
      })),
    };
    await run.fhir.transaction({ body: { ...bundle } });
  });

  after(async () => {
    if (previousCatalog === undefined) {
      delete process.env['MONITORMED_MODELS_FILE'];
    } else {
      process.env['MONITORMED_MODELS_FILE'] = previousCatalog;
    }
    rmSync(folder, { recursive: true, force: true });
    await dropTestDatabase(run.config);
  });

  void it('trains from FHIR results and stores it', async () => {
    const result = (await runTrainSurrogate(
      ['--model', modelId, '--hidden', '16', '--max-epochs', '40', '--lookback-hours', '6'],
      run.config
    )) as {
      surrogateVersion: number;
      source: string;
      trainingSize: number;
      extraction: { resultsRead: number; skipped: { noInputs: number } };
      fidelity: { n: number };
    };
    assert.equal(result.surrogateVersion, 1);
    assert.equal(result.source, 'fhir');
    assert.equal(result.extraction.resultsRead, 3 * RESULTS_PER_PATIENT);
    assert.equal(result.extraction.skipped.noInputs, 0);
    assert.equal(result.trainingSize, 3 * RESULTS_PER_PATIENT);
    assert.equal(result.fidelity.n, 7);

    // The stored ONNX model carries its own description in metadata_props.
    const mongo = await connectMongo(run.config);
    try {
      const stored = await new SurrogateStore(mongo.db).findActive(modelId);
      assert.ok(stored !== undefined);
      const metadata = readOnnxMetadata(surrogateBytes(stored));
      assert.equal(metadata['modelId'], modelId);
      assert.equal(metadata['surrogateVersion'], '1');
      assert.equal(metadata['trainingSize'], String(3 * RESULTS_PER_PATIENT));
      assert.equal(metadata['lookbackHours'], '6');
      assert.equal((JSON.parse(metadata['fidelity'] ?? '{}') as { n?: number }).n, 7);
      const spec = featureSpecFor(modelId);
      assert.ok(spec !== undefined);
      assert.deepEqual(JSON.parse(metadata['featureNames'] ?? '[]'), featureNames(spec));
    } finally {
      await mongo.client.close();
    }
  });

  void it('narrow date range has too few pairs', async () => {
    await assert.rejects(
      runTrainSurrogate(['--model', modelId, '--from', '2025-06-02', '--to', '2025-06-03'], run.config),
      (err: unknown) =>
        err instanceof UsageError &&
        err.message.startsWith(
          `Too few pairs: ${String(RESULTS_PER_PATIENT)} from FHIR results of ${modelId} in the date range, at least 40 needed`
        )
    );
  });
});
