/**
 * The performance job against the real FerretDB: labelled metrics per subgroup with the minimum n, the
 * excluded labels, CBPE estimates and the override rate, written as metric documents.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import {
  COLLECTIONS,
  LABEL_COLLECTIONS,
  connectMongo,
  type AiModelDefinition,
  type MongoHandle,
} from '@monitormed/common';
import type { Observation, Organization, Patient } from '@medplum/fhirtypes';
import { US_CORE_RACE } from '../subgroups/subgroups.js';
import { createTestRun, dropTestDatabase, requirePeers } from '../testing/stack.js';
import { estimateCbpe, fitCbpe } from './cbpe.js';
import { computePerformanceWindow, type PerformanceMetricDocument } from './performance-window.js';
import { aurocWithDeLong } from './ranking-metrics.js';
import { thresholdMetrics } from './threshold-metrics.js';

interface Case {
  scores: number[];
  labels: (0 | 1)[];
  referenceScores: number[];
  referenceLabels: (0 | 1)[];
  expected: { auroc: number };
}

const expectations = JSON.parse(
  readFileSync(new URL('../../reference/performance-expected.json', import.meta.url), 'utf8')
) as { labelled: Case[]; cbpe: Case[] };
const labelled = expectations.labelled[0];
const cbpeCase = expectations.cbpe[0];
if (labelled === undefined || cbpeCase === undefined) {
  throw new Error('performance-expected.json has no cases; run reference/make_performance_expectations.py.');
}

const run = createTestRun();
const WINDOW = '2026-04-02';
const REFERENCE_DAY = '2026-03-01';
const model: AiModelDefinition = {
  modelId: `perf-model-${run.runId}`,
  name: 'Performance test model',
  version: '1.0.0',
  manufacturer: 'MonitorMed tests',
  kind: 'Machine-Learning-Models',
  intendedUse: 'Synthetic model for performance tests',
  match: {},
  outputCode: { system: 'https://monitormed.dev/fhir/CodeSystem/test', code: 'TEST-RISK' },
  positiveThreshold: 0.5,
};

let mongo: MongoHandle;
let documents: PerformanceMetricDocument[];
let fhirObservationId = '';
let siteReference = '';

function labelDocument(id: string, score: number, label: string, day: string): Record<string, unknown> {
  return {
    _id: id,
    modelId: model.modelId,
    patient: 'Patient/synthetic',
    aiVersionId: '1',
    score,
    aiPositive: score >= model.positiveThreshold,
    aiEffective: new Date(`${day}T12:00:00Z`),
    day,
    label,
    latencyMs: 7_200_000,
    evidence: [],
    extractorVersion: 'test',
    horizonAt: new Date(`${day}T12:00:00Z`),
    revision: 1,
    updatedAt: new Date(),
  };
}

function find(metric: string, subgroup: string): PerformanceMetricDocument {
  const document = documents.find((entry) => entry.metric === metric && entry.subgroup === subgroup);
  assert.ok(document, `no ${metric} document for subgroup ${subgroup}`);
  return document;
}

before(async () => {
  await requirePeers(run.config);
  mongo = await connectMongo(run.config);
  const labels = mongo.db.collection(LABEL_COLLECTIONS.labels);
  const results = mongo.db.collection(COLLECTIONS.aiResults);

  // Window results: even indexes female, odd male; the first 5 also in the 80+ age band.
  await results.insertMany(
    labelled.scores.map((score, index) => ({
      observationId: `obs-${run.runId}-${String(index)}`,
      status: 'analyzed',
      modelId: model.modelId,
      window: WINDOW,
      score,
      subgroups: { sex: index % 2 === 0 ? 'female' : 'male', ...(index < 5 ? { age: '80+' } : {}) },
    }))
  );
  await labels.insertMany(
    labelled.scores.map((score, index) =>
      labelDocument(
        `obs-${run.runId}-${String(index)}`,
        score,
        labelled.labels[index] === 1 ? 'positive' : 'negative',
        WINDOW
      )
    )
  );
  await labels.insertMany([
    ...[0, 1, 2].map((index) => labelDocument(`uncertain-${String(index)}`, 0.5, 'uncertain', WINDOW)),
    ...[0, 1].map((index) => labelDocument(`unknown-${String(index)}`, 0.5, 'unknown', WINDOW)),
  ]);
  await labels.insertMany(
    cbpeCase.referenceScores.map((score, index) =>
      labelDocument(
        `reference-${String(index)}`,
        score,
        cbpeCase.referenceLabels[index] === 1 ? 'positive' : 'negative',
        REFERENCE_DAY
      )
    )
  );
  await mongo.db.collection(COLLECTIONS.overrideRates).insertOne({
    _id: `${model.modelId}|${WINDOW}` as never,
    modelId: model.modelId,
    day: WINDOW,
    accepted: 30,
    overridden: 10,
    countedFeedback: ['x'],
    updatedAt: new Date(),
  });

  // One result without subgroups, whose Patient and Observation are in HAPI: the job reads them.
  const patient = (await run.fhir.create({
    resourceType: 'Patient',
    body: {
      resourceType: 'Patient',
      gender: 'male',
      birthDate: '1940-01-01',
      extension: [
        {
          url: US_CORE_RACE,
          extension: [
            {
              url: 'ombCategory',
              valueCoding: { system: 'urn:oid:2.16.840.1.113883.6.238', code: '2054-5' },
            },
          ],
        },
      ],
    },
  })) as unknown as Patient;
  const organization = (await run.fhir.create({
    resourceType: 'Organization',
    body: { resourceType: 'Organization', name: `Synthetic site ${run.runId}` },
  })) as unknown as Organization;
  siteReference = `Organization/${organization.id ?? ''}`;
  const observation = (await run.fhir.create({
    resourceType: 'Observation',
    body: {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'synthetic AI output' },
      subject: { reference: `Patient/${patient.id ?? ''}` },
      effectiveDateTime: `${WINDOW}T08:00:00Z`,
      performer: [{ reference: siteReference }],
    },
  })) as unknown as Observation;
  fhirObservationId = observation.id ?? '';
  await results.insertOne({
    observationId: fhirObservationId,
    status: 'analyzed',
    modelId: model.modelId,
    window: WINDOW,
    score: 0.4,
  });

  documents = await computePerformanceWindow(
    mongo.db,
    model,
    WINDOW,
    { minN: 20, eceBins: 10, cbpeReference: { fromDay: REFERENCE_DAY, toDay: REFERENCE_DAY } },
    run.fhir
  );
});

after(async () => {
  await mongo.client.close();
  await dropTestDatabase(run.config);
});

void describe('performance window job', () => {
  void it('whole population matches scikit-learn', () => {
    const auroc = find('performance-auroc', 'all');
    assert.equal(auroc.n, 200);
    assert.ok(Math.abs((auroc.value ?? Number.NaN) - labelled.expected.auroc) < 1e-12);
    assert.equal(auroc.excludedUncertain, 3);
    assert.equal(auroc.excludedUnknown, 2);
    assert.equal(find('label-latency-hours-median', 'all').value, 2);
  });

  void it('subgroup metrics use only its results', () => {
    const female = labelled.scores.filter((_, index) => index % 2 === 0);
    const femaleLabels = labelled.labels.filter((_, index) => index % 2 === 0);
    const sensitivity = find('performance-sensitivity', 'sex:female');
    const expected = thresholdMetrics(female, femaleLabels, 0.5).sensitivity;
    assert.equal(sensitivity.n, expected.n);
    assert.equal(sensitivity.value, expected.value);
    assert.equal(sensitivity.lower, expected.lower);
    assert.equal(find('performance-auroc', 'sex:female').value, aurocWithDeLong(female, femaleLabels)?.auroc);
  });

  void it('subgroup below min n is insufficient-data', () => {
    const small = find('performance-sensitivity', 'age:80+');
    assert.equal(small.status, 'insufficient-data');
    assert.equal(small.value, null);
    assert.equal(small.n <= 5, true);
  });

  void it('CBPE estimates and assumptions are stored', () => {
    const cbpeModel = fitCbpe(cbpeCase.referenceScores, cbpeCase.referenceLabels, 0.5);
    // The window also contains the unlabelled result of score 0.4 read from FHIR.
    const estimate = estimateCbpe(cbpeModel, [...labelled.scores, 0.4]);
    const stored = find('cbpe-auroc', 'all');
    assert.equal(stored.n, 201);
    assert.ok(Math.abs((stored.value ?? Number.NaN) - (estimate.auroc.value ?? Number.NaN)) < 1e-12);
    assert.ok(Math.abs((stored.lower ?? Number.NaN) - (estimate.auroc.lower ?? Number.NaN)) < 1e-12);
    assert.ok(stored.assumptions?.some((text) => text.includes('No concept drift')));
  });

  void it('subgroups read from FHIR are stored', async () => {
    const stored = await mongo.db
      .collection(COLLECTIONS.aiResults)
      .findOne({ observationId: fhirObservationId });
    assert.deepEqual(stored?.['subgroups'], {
      age: '80+',
      sex: 'male',
      race: '2054-5',
      site: siteReference,
    });
  });

  void it('override rate is stored with n', async () => {
    const stored = await mongo.db
      .collection<PerformanceMetricDocument>(COLLECTIONS.metrics)
      .findOne({ modelId: model.modelId, metric: 'override-rate', subgroup: 'all', window: WINDOW });
    assert.equal(stored?.value, 0.25);
    assert.equal(stored.n, 40);
  });
});
