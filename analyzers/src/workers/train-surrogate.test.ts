/**
 * The surrogate training job on the real peers: `train-surrogate --queue` queues it, a worker trains on the
 * model version's results in HAPI and stores the version, and the worker's next result gets MC dropout from
 * it. The same key queued again trains nothing, and too few pairs fail the job without a retry.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Bundle, BundleEntry, Device, Extension, Observation, Resource } from '@medplum/fhirtypes';
import {
  ANALYZE_QUEUE,
  analyzeJobId,
  buildModelDevice,
  connectMongo,
  UNCERTAINTY_EXTENSION,
  type AiModelDefinition,
  type AnalyzeResultJob,
  type MongoHandle,
} from '@monitormed/common';
import { createRng } from '@monitormed/synthea-data';
import Bull from 'bull';
import { startAnalyzers, type Analyzers } from '../analyzers.js';
import { runTrainSurrogate } from '../cli/train-surrogate.js';
import { UsageError } from '../cli/usage-error.js';
import { readUncertainty } from '../fhir/extensions.js';
import { DEAD_JOBS_COLLECTION, deadJobKey, type DeadJobDocument } from '../jobs/dead-letter.js';
import {
  DEFAULT_JOB_OPTIONS,
  defaultJobOptions,
  jobIdOf,
  QUEUE_NAMES,
  SURROGATE_QUEUE,
  type TrainSurrogateJob,
} from '../jobs/definitions.js';
import { featureSpecFor, registerFeatureSpec } from '../surrogate/features.js';
import { readOnnxMetadata } from '../surrogate/onnx-export.js';
import { SURROGATES_COLLECTION, SurrogateStore, surrogateBytes } from '../surrogate/store.js';
import {
  buildAiObservation,
  createAiObservation,
  createTestPatient,
  createTestRun,
  dropTestDatabase,
  requirePeers,
  waitFor,
} from '../testing/stack.js';
import type { TrainSurrogateOutcome } from './train-surrogate.js';

const run = createTestRun();
const modelId = `train-job-${run.runId}`;
const PATIENTS = 3;
const RESULTS_PER_PATIENT = 15;
/** Small network and few epochs, because the test machine is shared. */
const FAST_TRAINING = ['--hidden', '8', '--max-epochs', '30'];

const model: AiModelDefinition = {
  modelId,
  name: `Training job test model ${run.runId}`,
  version: '1.0.0',
  manufacturer: 'MonitorMed tests',
  kind: 'Machine-Learning-Models',
  intendedUse: 'Synthetic model for integration tests',
  match: {},
  outputCode: { system: 'https://monitormed.dev/fhir/CodeSystem/test', code: 'TEST-RISK' },
  positiveThreshold: 0.5,
};

let folder = '';
let analyzers: Analyzers | undefined;
let mongo: MongoHandle | undefined;
let analyzeQueue: Bull.Queue<AnalyzeResultJob> | undefined;
let deviceId = '';
let newerDeviceId = '';
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

async function createDevice(version: string): Promise<string> {
  const device = (await run.fhir.create({
    resourceType: 'Device',
    body: { ...buildModelDevice({ ...model, version }) },
  })) as unknown as Device;
  return device.id ?? '';
}

/** Creates a patient with one heart rate and one lactate value, and an AI result 30 minutes later. */
async function createResultWithInputs(onDeviceId: string, effective: Date): Promise<string> {
  const patientId = await createTestPatient(run);
  const measured = new Date(effective.getTime() - 30 * 60_000).toISOString();
  for (const entry of [
    vital(patientId, '8867-4', 118, measured),
    vital(patientId, '2524-7', 3.2, measured),
  ]) {
    await run.fhir.create({ resourceType: 'Observation', body: { ...entry } });
  }
  const created = await createAiObservation(run, {
    deviceId: onDeviceId,
    patientId,
    score: 0.62,
    effective: effective.toISOString(),
  });
  return created.id;
}

/** Queues the analysis of an Observation's first version and waits for its uncertainty extension. */
async function analyze(observationId: string): Promise<Extension> {
  const job: AnalyzeResultJob = { resourceType: 'Observation', id: observationId, versionId: '1' };
  await analyzeQueue?.add(job, { ...DEFAULT_JOB_OPTIONS, jobId: analyzeJobId(job) });
  return waitFor(`UNCERTAINTY_EXTENSION on Observation/${observationId}`, async () => {
    const observation = (await run.fhir.read({
      resourceType: 'Observation',
      id: observationId,
    })) as unknown as Observation;
    return readUncertainty(observation.extension) === undefined
      ? undefined
      : observation.extension?.find((extension) => extension.url === UNCERTAINTY_EXTENSION);
  });
}

function part(extension: Extension, url: string): Extension | undefined {
  return extension.extension?.find((entry) => entry.url === url);
}

async function queueTraining(args: string[]): Promise<{ state: string; result?: TrainSurrogateOutcome }> {
  return (await runTrainSurrogate(['--model', modelId, '--queue', ...args], run.config, run.queuePrefix)) as {
    state: string;
    result?: TrainSurrogateOutcome;
  };
}

void describe('surrogate training job', () => {
  before(async () => {
    await requirePeers(run.config);

    // The command reads the catalog from the file, the worker from the option; both get the run's model.
    folder = mkdtempSync(join(tmpdir(), 'monitormed-train-job-'));
    const catalog = join(folder, 'models.json');
    writeFileSync(catalog, JSON.stringify([model]));
    process.env['MONITORMED_MODELS_FILE'] = catalog;
    const sepsis = featureSpecFor('sepsis-risk');
    assert.ok(sepsis !== undefined);
    registerFeatureSpec({ ...sepsis, modelId });

    deviceId = await createDevice('1.0.0');
    newerDeviceId = await createDevice('2.0.0');

    // Version 1.0.0: three patients with hourly heart rate and lactate, and a result 30 minutes after each.
    const rng = createRng(31);
    const resources: Resource[] = [];
    for (let patient = 0; patient < PATIENTS; patient += 1) {
      const patientId = await createTestPatient(run);
      for (let hour = 0; hour < RESULTS_PER_PATIENT; hour += 1) {
        const heartRate = 70 + 60 * rng.next();
        const lactate = 0.5 + 5 * rng.next();
        const measured = new Date(Date.UTC(2025, 6, 1 + patient, hour)).toISOString();
        const effective = new Date(Date.UTC(2025, 6, 1 + patient, hour, 30)).toISOString();
        const score = 1 / (1 + Math.exp(-(0.05 * (heartRate - 100) + 0.8 * (lactate - 2.5))));
        resources.push(
          vital(patientId, '8867-4', heartRate, measured),
          vital(patientId, '2524-7', lactate, measured),
          buildAiObservation({ deviceId, patientId, score, effective })
        );
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

    analyzers = await startAnalyzers({
      config: run.config,
      queuePrefix: run.queuePrefix,
      models: [model],
      settings: { driftDebounceMs: 200 },
    });
    mongo = await connectMongo(run.config);
    analyzeQueue = new Bull<AnalyzeResultJob>(ANALYZE_QUEUE, run.config.redisUrl, {
      prefix: run.queuePrefix,
    });
  });

  after(async () => {
    await analyzers?.close();
    await analyzeQueue?.close();
    // Remove this run's jobs from Redis; the prefix is never used again.
    for (const name of QUEUE_NAMES) {
      const queue = new Bull(name, run.config.redisUrl, { prefix: run.queuePrefix });
      await queue.obliterate({ force: true });
      await queue.close();
    }
    await mongo?.client.close();
    await dropTestDatabase(run.config);
    if (previousCatalog === undefined) {
      delete process.env['MONITORMED_MODELS_FILE'];
    } else {
      process.env['MONITORMED_MODELS_FILE'] = previousCatalog;
    }
    rmSync(folder, { recursive: true, force: true });
  });

  void it('queued training is used by the worker', async () => {
    // Before the training the model has no surrogate, and the worker caches that for a minute.
    const before = await analyze(await createResultWithInputs(deviceId, new Date('2025-07-05T08:00:00Z')));
    assert.equal(part(before, 'method')?.valueCode, 'entropy');

    const queued = await queueTraining(['--key', 'july', '--wait', ...FAST_TRAINING]);
    assert.equal(queued.state, 'completed');
    const outcome = queued.result;
    assert.ok(outcome !== undefined);
    assert.equal(outcome.outcome, 'trained');
    assert.equal(outcome.surrogateVersion, 1);
    assert.equal(outcome.modelVersion, '1.0.0');
    assert.equal(outcome.jobId, `surrogate/${modelId}/1.0.0/july`);
    // The 45 loaded results and the one analysed above; the newer version's results are left out.
    assert.equal(outcome.trainingSize, PATIENTS * RESULTS_PER_PATIENT + 1);
    assert.equal(outcome.fidelity.n, 7);
    assert.ok(outcome.fidelity.meanAbsoluteError < 0.5, `MAE ${String(outcome.fidelity.meanAbsoluteError)}`);

    assert.ok(mongo !== undefined);
    const stored = await new SurrogateStore(mongo.db).findActive(modelId);
    assert.ok(stored !== undefined);
    assert.equal(stored.version, 1);
    assert.equal(stored.modelVersion, '1.0.0');
    assert.equal(stored.trainingJobId, outcome.jobId);
    assert.equal(stored.source, 'fhir');
    const metadata = readOnnxMetadata(surrogateBytes(stored));
    assert.equal(metadata['modelVersion'], '1.0.0');
    assert.equal(metadata['surrogateVersion'], '1');

    // Within the minute of the cached "no surrogate", the next result gets MC dropout from version 1.
    const after = await analyze(await createResultWithInputs(deviceId, new Date('2025-07-05T09:00:00Z')));
    assert.equal(part(after, 'method')?.valueCode, 'mc-dropout');
    assert.equal(part(after, 'surrogateVersion')?.valueString, '1');
    assert.equal(part(after, 'samples')?.valueInteger, 30);
  });

  void it('other model version keeps entropy', async () => {
    const extension = await analyze(
      await createResultWithInputs(newerDeviceId, new Date('2025-07-05T10:00:00Z'))
    );
    assert.equal(part(extension, 'method')?.valueCode, 'entropy');
  });

  void it('same key queued again does nothing', async () => {
    const again = await queueTraining(['--key', 'july', '--wait']);
    assert.equal(again.state, 'already-trained');

    // Once bull has dropped the completed job (here by hand, in production after 7 days), the same job id
    // can be queued again, and the worker trains nothing.
    const payload: TrainSurrogateJob = { modelId, modelVersion: '1.0.0', trainingKey: 'july' };
    const jobId = jobIdOf(SURROGATE_QUEUE, payload);
    const queue = new Bull<TrainSurrogateJob>(SURROGATE_QUEUE, run.config.redisUrl, {
      prefix: run.queuePrefix,
    });
    try {
      const completed = await queue.getJob(jobId);
      assert.equal(await completed?.getState(), 'completed');
      await completed?.remove();
      const job = await queue.add(payload, { ...defaultJobOptions(SURROGATE_QUEUE), jobId });
      const outcome = (await job.finished()) as TrainSurrogateOutcome;
      assert.equal(outcome.outcome, 'already-trained');
      assert.equal(outcome.surrogateVersion, 1);
    } finally {
      await queue.close();
    }
    const versions = await mongo?.db.collection(SURROGATES_COLLECTION).countDocuments({ modelId });
    assert.equal(versions, 1);
  });

  void it('too few pairs fail without retry', async () => {
    await createResultWithInputs(newerDeviceId, new Date('2025-07-06T08:00:00Z'));

    await assert.rejects(
      queueTraining(['--model-version', '2.0.0', '--key', 'few', '--wait', ...FAST_TRAINING]),
      (err: unknown) =>
        err instanceof UsageError &&
        /Too few pairs to train a surrogate of .* version 2\.0\.0: \d+ from \d+ FHIR results, at least 40 needed/.test(
          err.message
        )
    );

    const jobId = `surrogate/${modelId}/2.0.0/few`;
    const queue = new Bull<TrainSurrogateJob>(SURROGATE_QUEUE, run.config.redisUrl, {
      prefix: run.queuePrefix,
    });
    try {
      const job = await queue.getJob(jobId);
      assert.ok(job !== null);
      assert.equal(job.attemptsMade, 1);
      assert.equal(await job.getState(), 'failed');
    } finally {
      await queue.close();
    }
    const dead = await waitFor('dead job of the rejected training', async () => {
      const found = await mongo?.db
        .collection<DeadJobDocument>(DEAD_JOBS_COLLECTION)
        .findOne({ _id: deadJobKey(SURROGATE_QUEUE, jobId) });
      return found ?? undefined;
    });
    assert.match(dead.error, /at least 40 needed/);

    // Queuing the failed key again names the fix instead of waiting for nothing.
    await assert.rejects(
      queueTraining(['--model-version', '2.0.0', '--key', 'few']),
      (err: unknown) => err instanceof UsageError && /failed earlier: .* another --key/.test(err.message)
    );
  });

  void it('invalid payload fails without retry', async () => {
    const payload = {
      modelId,
      modelVersion: '1.0.0',
      trainingKey: 'invalid',
      training: { dropoutRate: 2 },
    } satisfies TrainSurrogateJob;
    const queue = new Bull<TrainSurrogateJob>(SURROGATE_QUEUE, run.config.redisUrl, {
      prefix: run.queuePrefix,
    });
    try {
      const job = await queue.add(payload, {
        ...defaultJobOptions(SURROGATE_QUEUE),
        jobId: jobIdOf(SURROGATE_QUEUE, payload),
      });
      await assert.rejects(
        job.finished(),
        /training\.dropoutRate is 2; expected a dropout rate above 0 and below 1/
      );
      const failed = await queue.getJob(String(job.id));
      assert.equal(failed?.attemptsMade, 1);
    } finally {
      await queue.close();
    }
  });

  void it('queue options are checked', async () => {
    await assert.rejects(
      runTrainSurrogate(['--model', modelId, '--key', 'k'], run.config, run.queuePrefix),
      (err: unknown) => err instanceof UsageError && /add --queue/.test(err.message)
    );
    await assert.rejects(
      runTrainSurrogate(['--model', modelId, '--queue', '--pairs', 'pairs.csv'], run.config, run.queuePrefix),
      (err: unknown) => err instanceof UsageError && /takes no --pairs file/.test(err.message)
    );
  });
});
