/**
 * Chained analyzer queues on the real peers (HAPI FHIR, FerretDB, Redis). An analyse job stores the result's
 * inputs and its drift evaluation queues the window rollup. The rollup queues the alert evaluation, which
 * opens an alert without any manual call.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Bundle, Flag, Observation } from '@medplum/fhirtypes';
import {
  ALERT_COLLECTIONS,
  ANALYZE_QUEUE,
  COLLECTIONS,
  connectMongo,
  type AiModelDefinition,
  type AlertEventDocument,
  type AnalyzeResultJob,
  type MongoHandle,
} from '@monitormed/common';
import Bull from 'bull';
import type { AlertRule } from '../alerts/rules.js';
import { startAnalyzers, type Analyzers } from '../analyzers.js';
import type { AiResultDocument } from '../store/documents.js';
import { registerFeatureSpec } from '../surrogate/features.js';
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
const WINDOW = '2025-03-04';
const HEART_RATE_LOINC = '8867-4';
const LACTATE_LOINC = '2524-7';

let analyzers: Analyzers | undefined;
let mongo: MongoHandle | undefined;
let queue: Bull.Queue<AnalyzeResultJob> | undefined;
let modelId = '';
let deviceId = '';
let patientId = '';

/** Builds the definition of the run's test model, because the alerts job looks models up by id. */
function testModel(id: string): AiModelDefinition {
  return {
    modelId: id,
    name: `Test model ${run.runId}`,
    version: '1.0.0',
    manufacturer: 'MonitorMed tests',
    kind: 'Machine-Learning-Models',
    intendedUse: 'Synthetic model for integration tests',
    match: {},
    outputCode: { system: 'https://monitormed.dev/fhir/CodeSystem/test', code: 'TEST-RISK' },
    positiveThreshold: 0.5,
  };
}

/** Builds a rule that breaches on any window with results, so one rolled-up window opens an alert. */
function alwaysFiringRule(id: string): AlertRule {
  return {
    ruleId: `test-results-seen-${run.runId}`,
    modelId: id,
    metric: 'result-count',
    subgroups: ['all'],
    direction: 'above',
    threshold: 0,
    consecutiveWindows: 1,
    minN: 1,
    response: { owner: 'Test owner', action: 'No action; synthetic test alert.' },
  };
}

async function createHeartRate(value: number, effective: string): Promise<void> {
  const body: Observation = {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: HEART_RATE_LOINC }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: effective,
    valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  };
  await run.fhir.create({ resourceType: 'Observation', body: { ...body } });
}

async function queueAnalysis(observation: Observation & { id: string }): Promise<void> {
  const job: AnalyzeResultJob = {
    resourceType: 'Observation',
    id: observation.id,
    versionId: observation.meta?.versionId ?? '1',
  };
  await queue?.add(job);
}

void describe('analyzer job wiring', () => {
  before(async () => {
    await requirePeers(run.config);
    const device = await createTestModelDevice(run);
    modelId = device.modelId;
    deviceId = device.deviceId;
    patientId = await createTestPatient(run);

    registerFeatureSpec({
      modelId,
      lookbackHours: 24,
      inputs: [
        { name: 'heartRate', codes: [HEART_RATE_LOINC], populationDefault: 80 },
        { name: 'lactate', codes: [LACTATE_LOINC], populationDefault: 1 },
      ],
    });

    analyzers = await startAnalyzers({
      config: run.config,
      queuePrefix: run.queuePrefix,
      settings: { driftDebounceMs: 200 },
      jobSettings: { rollupDelayMs: 200 },
      alertRules: [alwaysFiringRule(modelId)],
      models: [testModel(modelId)],
    });
    mongo = await connectMongo(run.config);
    queue = new Bull<AnalyzeResultJob>(ANALYZE_QUEUE, run.config.redisUrl, { prefix: run.queuePrefix });
  });

  after(async () => {
    // Remove this run's jobs from Redis; the prefix is never used again.
    await queue?.obliterate({ force: true });
    await queue?.close();
    await analyzers?.close();
    await mongo?.client.close();
    await dropTestDatabase(run.config);
  });

  void it('results flow to features and alert', async () => {
    await createHeartRate(112, `${WINDOW}T09:00:00Z`);
    const first = await createAiObservation(run, {
      deviceId,
      patientId,
      score: 0.8,
      effective: `${WINDOW}T10:00:00Z`,
    });
    const second = await createAiObservation(run, {
      deviceId,
      patientId,
      score: 0.3,
      effective: `${WINDOW}T11:00:00Z`,
    });
    await queueAnalysis(first);
    await queueAnalysis(second);

    // Step 1: the analyse job stores the inputs read from FHIR, with null for the missing lactate.
    const results = mongo?.db.collection<AiResultDocument>(COLLECTIONS.aiResults);
    const stored = await waitFor(`analysed result document of Observation/${first.id}`, async () => {
      const document = await results?.findOne({ observationId: first.id, status: 'analyzed' });
      return document ?? undefined;
    });
    assert.deepEqual(stored.features, { heartRate: 112, lactate: null });

    // Step 2: drift, then rollup, then the alert evaluation run from the queues alone.
    const history = mongo?.db.collection<AlertEventDocument>(ALERT_COLLECTIONS.history);
    const opened = await waitFor(`opened alert of model ${modelId}`, async () => {
      const event = await history?.findOne({ modelId, kind: 'opened' });
      return event ?? undefined;
    });
    assert.equal(opened.ruleId, alwaysFiringRule(modelId).ruleId);
    assert.equal(opened.window, WINDOW);
    assert.equal(opened.subgroup, 'all');
    // The first rollup may run before the second result is analysed, so the opening window counts one or two.
    assert.ok(opened.n === 1 || opened.n === 2, `expected n of 1 or 2, got ${opened.n}`);
    assert.equal(opened.value, opened.n);
    assert.deepEqual(opened.breachingWindows, [WINDOW]);

    // Step 3: the opened alert sets the model's alert Flag, authored by the model Device. The service
    // records the event before it writes the Flag, so the test waits for it.
    const flag = await waitFor(`alert Flag authored by Device/${deviceId}`, async () => {
      const bundle = (await run.fhir.search({
        resourceType: 'Flag',
        searchParams: { author: `Device/${deviceId}` },
        options: { headers: { 'Cache-Control': 'no-cache' } },
      })) as unknown as Bundle<Flag>;
      return bundle.entry?.[0]?.resource;
    });
    assert.equal(flag.status, 'active');
  });

  void it('rolled-up window keeps feature sketches', async () => {
    const metrics = mongo?.db.collection(COLLECTIONS.metrics);
    const heartRateMean = await waitFor(`feature-mean:heartRate of model ${modelId}`, async () => {
      const document = await metrics?.findOne({
        modelId,
        metric: 'feature-mean:heartRate',
        granularity: 'day',
        window: WINDOW,
        subgroup: 'all',
        n: 2,
      });
      return document ?? undefined;
    });
    assert.equal(heartRateMean['value'], 112);
    assert.equal(heartRateMean['n'], 2);
  });
});
