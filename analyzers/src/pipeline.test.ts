/**
 * End to end on the real peers: HAPI's rest-hook Subscription delivers AI results to fhir-server-ext, which
 * queues them, and the analyzers write the uncertainty back to HAPI and to MongoDB.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Bundle, Flag, Observation, OperationOutcome } from '@medplum/fhirtypes';
import {
  AIAST_SEARCH,
  ANALYZE_QUEUE,
  analyzeJobId,
  COLLECTIONS,
  connectMongo,
  FLAG_CODES,
  FLAG_ID_SYSTEM,
  type AnalyzeResultJob,
  type MongoHandle,
} from '@monitormed/common';
import { startFhirServerExt, type FhirServerExt } from '@monitormed/fhir-server-ext';
import Bull from 'bull';
import { startAnalyzers, type Analyzers } from './analyzers.js';
import { ANALYZER_VERSION, readUncertainty } from './fhir/extensions.js';
import { binaryEntropyBits } from './stats/entropy.js';
import type { AiResultDocument, MetricDocument } from './store/documents.js';
import {
  createAiObservation,
  createTestModelDevice,
  createTestPatient,
  createTestRun,
  dropTestDatabase,
  requirePeers,
  waitFor,
} from './testing/stack.js';

const run = createTestRun();
let server: FhirServerExt | undefined;
let analyzers: Analyzers | undefined;
let mongo: MongoHandle | undefined;
let queue: Bull.Queue<AnalyzeResultJob> | undefined;
let deviceId = '';
let patientId = '';

function hookUrl(path: string): string {
  if (server === undefined) {
    throw new Error('fhir-server-ext did not start; see the before hook error.');
  }
  return `http://127.0.0.1:${server.port}/subscription-hook${path}`;
}

async function readObservation(id: string): Promise<Observation> {
  return (await run.fhir.read({ resourceType: 'Observation', id })) as unknown as Observation;
}

async function waitForUncertainty(id: string): Promise<Observation> {
  return waitFor(`UNCERTAINTY_EXTENSION on Observation/${id}`, async () => {
    const observation = await readObservation(id);
    return readUncertainty(observation.extension) === undefined ? undefined : observation;
  });
}

async function findFlags(observationId: string, code: string): Promise<Flag[]> {
  const bundle = (await run.fhir.search({
    resourceType: 'Flag',
    searchParams: { identifier: `${FLAG_ID_SYSTEM}|${observationId}\\|${code}` },
    options: { headers: { 'Cache-Control': 'no-cache' } },
  })) as unknown as Bundle<Flag>;
  return (bundle.entry ?? []).flatMap((entry) => (entry.resource === undefined ? [] : [entry.resource]));
}

async function putDelivery(
  body: unknown,
  secret: string | undefined,
  path = ''
): Promise<{ status: number; outcome: OperationOutcome }> {
  const headers: Record<string, string> = { 'content-type': 'application/fhir+json' };
  if (secret !== undefined) {
    headers['X-MonitorMed-Secret'] = secret;
  }
  const response = await fetch(hookUrl(path), {
    method: path === '' ? 'POST' : 'PUT',
    headers,
    body: JSON.stringify(body),
  });
  return { status: response.status, outcome: (await response.json()) as OperationOutcome };
}

void describe('subscription to analysis pipeline', () => {
  before(async () => {
    await requirePeers(run.config);
    const device = await createTestModelDevice(run);
    deviceId = device.deviceId;
    patientId = await createTestPatient(run);

    // Narrow the Subscription to this run's Device, so results of other tests and runs never reach it.
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
      // The default 0.97 bits flags every score whose margin is below 0.1. With 0.999 bits, a score of
      // 0.47 (0.997 bits, margin 0.06) is flagged by the margin rule alone.
      settings: { driftDebounceMs: 200, uncertaintyThresholdBits: 0.999, uncertaintyMarginWidth: 0.1 },
    });
    mongo = await connectMongo(run.config);
    queue = new Bull<AnalyzeResultJob>(ANALYZE_QUEUE, run.config.redisUrl, { prefix: run.queuePrefix });
  });

  after(async () => {
    // Remove this run's jobs from Redis; the prefix is never used again.
    await queue?.obliterate({ force: true });
    await queue?.close();
    await analyzers?.close();
    await server?.close();
    await mongo?.client.close();
    await dropTestDatabase(run.config);
  });

  void it('delivered result gets uncertainty extension', async () => {
    const created = await createAiObservation(run, {
      deviceId,
      patientId,
      score: 0.2,
      effective: '2025-02-03T10:00:00Z',
    });
    const analysed = await waitForUncertainty(created.id);

    const uncertainty = readUncertainty(analysed.extension);
    assert.equal(uncertainty?.analyzerVersion, ANALYZER_VERSION);
    assert.ok(Math.abs(uncertainty.entropyBits - binaryEntropyBits(0.2)) < 1e-12);

    const results = mongo?.db.collection<AiResultDocument>(COLLECTIONS.aiResults);
    const document = await results?.findOne({ observationId: created.id });
    assert.equal(document?.status, 'analyzed');
    assert.equal(document.window, '2025-02-03');
    assert.equal(document.score, 0.2);
    assert.equal(document.patientId, patientId);
    assert.equal(document.modelId, `test-model-${run.runId}`);
    assert.ok(Math.abs((document.margin ?? 0) - 0.6) < 1e-12);
    assert.deepEqual(document.highUncertaintyRules, []);

    const metrics = mongo?.db.collection<MetricDocument>(COLLECTIONS.metrics);
    const mean = await waitFor('uncertainty-entropy-mean metric', async () => {
      const found = await metrics?.findOne({
        modelId: `test-model-${run.runId}`,
        metric: 'uncertainty-entropy-mean',
        window: '2025-02-03',
      });
      return found ?? undefined;
    });
    assert.equal(mean.n, 1);
    assert.ok(Math.abs((mean.value ?? 0) - binaryEntropyBits(0.2)) < 1e-12);

    assert.equal((await findFlags(created.id, FLAG_CODES.highUncertainty.code)).length, 0);
  });

  void it('redelivered version is queued once', async () => {
    const created = await createAiObservation(run, {
      deviceId,
      patientId,
      score: 0.1,
      effective: '2025-02-03T11:00:00Z',
    });
    await waitForUncertainty(created.id);

    // Deliver version 1 again, twice, as HAPI would on a retry.
    const firstVersion = (await run.fhir.vread({
      resourceType: 'Observation',
      id: created.id,
      version: '1',
    })) as unknown as Observation;
    const first = await putDelivery(
      firstVersion,
      run.config.subscriptionSecret,
      `/Observation/${created.id}`
    );
    const second = await putDelivery(
      firstVersion,
      run.config.subscriptionSecret,
      `/Observation/${created.id}`
    );
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    assert.match(second.outcome.issue[0]?.details?.text ?? '', /already queued/);

    const jobs = await queue?.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed']);
    const jobId = analyzeJobId({ resourceType: 'Observation', id: created.id, versionId: '1' });
    assert.equal(jobs?.filter((job) => job.id === jobId).length, 1);

    const metricsText = await (await fetch(`http://127.0.0.1:${server?.port ?? 0}/metrics`)).text();
    assert.match(metricsText, /monitormed_subscription_duplicate_deliveries_total [1-9]/);
  });

  void it('high uncertainty result gets one Flag', async () => {
    const created = await createAiObservation(run, {
      deviceId,
      patientId,
      score: 0.5,
      effective: '2025-02-04T09:30:00Z',
    });
    await waitForUncertainty(created.id);

    const flags = await findFlags(created.id, FLAG_CODES.highUncertainty.code);
    assert.equal(flags.length, 1);
    assert.equal(flags[0]?.subject.reference, `Patient/${patientId}`);
    assert.equal(flags[0].status, 'active');
    assert.equal(flags[0].code.coding?.[0]?.code, FLAG_CODES.highUncertainty.code);

    const document = await mongo?.db
      .collection<AiResultDocument>(COLLECTIONS.aiResults)
      .findOne({ observationId: created.id });
    assert.deepEqual(document?.highUncertaintyRules, ['entropy', 'margin']);
  });

  void it('margin alone raises the Flag', async () => {
    const created = await createAiObservation(run, {
      deviceId,
      patientId,
      score: 0.47,
      effective: '2025-02-04T10:30:00Z',
    });
    const analysed = await waitForUncertainty(created.id);

    const recorded = readUncertainty(analysed.extension);
    assert.deepEqual(recorded?.rules, {
      entropyThresholdBits: 0.999,
      marginWidth: 0.1,
      flaggedBy: ['margin'],
    });
    assert.deepEqual(recorded.methods, ['entropy', 'margin']);
    assert.ok(Math.abs((recorded.margin ?? 0) - 0.06) < 1e-12, `margin ${String(recorded.margin)}`);

    const document = await mongo?.db
      .collection<AiResultDocument>(COLLECTIONS.aiResults)
      .findOne({ observationId: created.id });
    assert.deepEqual(document?.highUncertaintyRules, ['margin']);
    assert.equal((await findFlags(created.id, FLAG_CODES.highUncertainty.code)).length, 1);
  });

  void it('wrong or missing secret gets 401', async () => {
    const wrong = await putDelivery(
      { resourceType: 'Observation', id: 'x' },
      'not-the-secret',
      '/Observation/x'
    );
    assert.equal(wrong.status, 401);
    assert.equal(wrong.outcome.resourceType, 'OperationOutcome');
    assert.equal(wrong.outcome.issue[0]?.code, 'login');

    const missing = await putDelivery({ resourceType: 'Observation', id: 'x' }, undefined, '/Observation/x');
    assert.equal(missing.status, 401);
  });

  void it('unlabelled or non-Observation body gets 400', async () => {
    const secret = run.config.subscriptionSecret;
    const unlabelled = await putDelivery(
      { resourceType: 'Observation', id: 'x', meta: { versionId: '1' } },
      secret,
      '/Observation/x'
    );
    assert.equal(unlabelled.status, 400);
    assert.match(unlabelled.outcome.issue[0]?.details?.text ?? '', /AIAST/);

    const patient = await putDelivery(
      { resourceType: 'Patient', id: 'x', meta: { versionId: '1' } },
      secret,
      '/Patient/x'
    );
    assert.equal(patient.status, 400);

    const empty = await putDelivery({}, secret);
    assert.equal(empty.status, 200);
  });

  void it('invalid score fails the job permanently', async () => {
    const created = await createAiObservation(run, {
      deviceId,
      patientId,
      score: 1.5,
      effective: '2025-02-04T12:00:00Z',
    });
    const jobId = analyzeJobId({ resourceType: 'Observation', id: created.id, versionId: '1' });

    await waitFor(`failed job ${jobId}`, async () => {
      const found = await queue?.getJob(jobId);
      return found !== null && found !== undefined && (await found.isFailed()) ? true : undefined;
    });
    // Read the job again: the copy read before isFailed() may predate the failure's attempt count.
    const job = await queue?.getJob(jobId);
    assert.ok(job !== null && job !== undefined);
    assert.equal(job.attemptsMade, 1);
    assert.match(job.failedReason ?? '', /expected a probability from 0 to 1/);

    const document = await mongo?.db
      .collection<AiResultDocument>(COLLECTIONS.aiResults)
      .findOne({ observationId: created.id });
    assert.equal(document?.status, 'invalid');
  });
});
