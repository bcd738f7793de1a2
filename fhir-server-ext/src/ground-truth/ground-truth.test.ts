/**
 * Ground-truth linking against the real peers. HAPI FHIR delivers this run's resources, narrowed by a
 * meta.tag, through rest-hook Subscriptions to the hook. The bull worker links them, and the labels and
 * concordance are stored in a FerretDB database of this run.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Coding, DiagnosticReport, Observation, OperationOutcome, Resource } from '@medplum/fhirtypes';
import {
  AIAST,
  LABEL_COLLECTIONS,
  createFhirClient,
  createLogger,
  loadConfig,
  loadModelCatalog,
  readConcordance,
  readLabels,
  waitFor,
  type Concordance,
  type LabelDocument,
  type MonitorMedConfig,
} from '@monitormed/common';
import express from 'express';
import { MongoClient } from 'mongodb';
import { SECRET_HEADER } from '../subscription.js';
import { labelObservationId, labelProvenanceId } from './fhir-label.js';
import { processGroundTruthJob } from './linker.js';
import { loadGroundTruthRules } from './rules.js';
import { GROUND_TRUTH_HOOK_PATH } from './hook.js';
import { createGroundTruth, type GroundTruth } from './service.js';

const runId = randomBytes(4).toString('hex');
const TAG: Coding = { system: 'https://monitormed.dev/fhir/CodeSystem/test-run', code: `gt-${runId}` };
const config: MonitorMedConfig = { ...loadConfig(), mongoDatabase: `monitormed_test_gt_${runId}` };
const models = loadModelCatalog();
const LOINC = 'http://loinc.org';
const HOUR_MS = 3_600_000;
const DELIVERY_TIMEOUT_MS = 45_000;

let groundTruth: GroundTruth;
let server: Server;
let hookUrl: string;
let mongo: MongoClient;

/** Sends a FHIR request to HAPI and returns the parsed body; fails with a clear message when HAPI is down. */
async function fhir<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${config.fhirBaseUrl}/${path}`, {
      method,
      headers: { 'Content-Type': 'application/fhir+json', Accept: 'application/fhir+json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new Error(
      `HAPI FHIR is not reachable at ${config.fhirBaseUrl} (${(err as Error).message}); start it with peers/peers.sh start hapi.`
    );
  }
  const parsed = (await response.json()) as T;
  if (!response.ok && !path.includes('$validate')) {
    throw new Error(`${method} ${path} failed with HTTP ${response.status}: ${JSON.stringify(parsed)}`);
  }
  return parsed;
}

async function create<T extends Resource>(resource: T): Promise<T & { id: string }> {
  const tagged = { ...resource, meta: { ...resource.meta, tag: [TAG] } };
  return fhir<T & { id: string }>('POST', resource.resourceType, tagged);
}

async function update<T extends Resource & { id: string }>(resource: T): Promise<T & { id: string }> {
  return fhir<T & { id: string }>('PUT', `${resource.resourceType}/${resource.id}`, resource);
}

async function createPatient(): Promise<string> {
  const patient = await create({ resourceType: 'Patient', name: [{ family: 'Synthetic', given: ['Test'] }] });
  return `Patient/${patient.id}`;
}

async function createAiResult(
  modelId: string,
  patient: string,
  effective: Date,
  score: number,
  studyId?: string
): Promise<string> {
  const model = models.find((m) => m.modelId === modelId);
  assert.ok(model, `model ${modelId} is in the demo catalog`);
  const observation = await create({
    resourceType: 'Observation',
    meta: { security: [AIAST] },
    status: 'final',
    code: { coding: [model.outputCode] },
    subject: { reference: patient },
    effectiveDateTime: effective.toISOString(),
    valueQuantity: { value: score, unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
    ...(studyId === undefined ? {} : { derivedFrom: [{ reference: `ImagingStudy/${studyId}` }] }),
  });
  return observation.id;
}

async function createStudy(patient: string): Promise<string> {
  const study = await create({
    resourceType: 'ImagingStudy',
    status: 'available',
    subject: { reference: patient },
  });
  return study.id;
}

function chestReport(patient: string, effective: Date, conclusion: string, studyId?: string) {
  return {
    resourceType: 'DiagnosticReport' as const,
    status: 'final' as const,
    code: { coding: [{ system: LOINC, code: '36643-5' }] },
    subject: { reference: patient },
    effectiveDateTime: effective.toISOString(),
    conclusion,
    ...(studyId === undefined ? {} : { imagingStudy: [{ reference: `ImagingStudy/${studyId}` }] }),
  };
}

async function labelWhen(
  observationId: string,
  done: (label: LabelDocument) => boolean
): Promise<LabelDocument> {
  return waitFor(
    `the label of Observation/${observationId}`,
    async () => {
      const label = await groundTruth.store().get(observationId);
      return label !== null && done(label) ? label : undefined;
    },
    DELIVERY_TIMEOUT_MS
  );
}

/** Waits for the rollup of a model and day to satisfy `done`; the worker updates it right after the label. */
async function concordanceWhen(
  modelId: string,
  day: string,
  done: (rollup: Concordance) => boolean
): Promise<Concordance> {
  return waitFor(
    `the concordance of ${modelId} on ${day}`,
    async () => {
      const [rollup] = await readConcordance(mongo.db(config.mongoDatabase), {
        modelId,
        fromDay: day,
        toDay: day,
      });
      return rollup !== undefined && done(rollup) ? rollup : undefined;
    },
    DELIVERY_TIMEOUT_MS
  );
}

async function validationErrors(resource: Resource): Promise<string[]> {
  const outcome = await fhir<OperationOutcome>('POST', `${resource.resourceType}/$validate`, resource);
  return outcome.issue
    .filter((issue) => issue.severity === 'error' || issue.severity === 'fatal')
    .map((issue) => `${issue.expression?.join(',') ?? ''}: ${issue.diagnostics ?? ''}`);
}

/** Returns a UTC day of its own per test, so that the rollup counts of one test are not shared with another. */
function dayStart(offsetDays: number): Date {
  const base = Date.UTC(2026, 0, 10 + offsetDays + (Number.parseInt(runId.slice(0, 4), 16) % 300), 6);
  return new Date(base);
}

void describe('ground-truth linking', () => {
  before(async () => {
    await fhir('GET', 'metadata');
    mongo = new MongoClient(config.mongoUrl, { serverSelectionTimeoutMS: 5_000, retryWrites: false });
    try {
      await mongo.connect();
    } catch (err) {
      throw new Error(
        `FerretDB is not reachable at ${config.mongoUrl} (${(err as Error).message}); start it with peers/peers.sh start ferretdb.`
      );
    }

    groundTruth = createGroundTruth({
      config,
      log: createLogger('ground-truth-test', 'warn'),
      models,
      queuePrefix: `test-gt-${runId}`,
      subscriptionOwner: `gt-test-${runId}`,
      criteriaSuffix: `&_tag=${TAG.system ?? ''}|${TAG.code ?? ''}`,
      removeSubscriptionsOnClose: true,
      horizonSweepIntervalMs: 0,
    });
    const app = express();
    app.use(express.json({ type: ['application/json', 'application/fhir+json'] }));
    app.use(groundTruth.router);
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    hookUrl = `${base}${GROUND_TRUTH_HOOK_PATH}`;
    await groundTruth.start(base);
  });

  after(async () => {
    await groundTruth.close();
    await groundTruth.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
    await mongo.db(config.mongoDatabase).dropDatabase();
    await mongo.close();
  });

  void it('links a report written after the AI result', async () => {
    const patient = await createPatient();
    const aiTime = dayStart(0);
    const study = await createStudy(patient);
    const aiId = await createAiResult('cxr-pneumothorax', patient, aiTime, 0.83, study);
    await create(
      chestReport(
        patient,
        new Date(aiTime.getTime() + 2 * HOUR_MS),
        'Small right apical pneumothorax.',
        study
      )
    );

    const label = await labelWhen(aiId, (l) => l.label !== 'unknown');
    assert.equal(label.label, 'positive');
    assert.equal(label.method, 'rule');
    assert.equal(label.evidence[0]?.rule, 'affirmed');
    assert.ok((label.latencyMs ?? -1) >= 0, 'latency from result to label is recorded');
    assert.equal(label.extractorVersion, '1.0.0');

    const rollup = await concordanceWhen('cxr-pneumothorax', label.day, (r) => r.tp > 0);
    assert.equal(rollup.tp, 1);
    assert.equal(rollup.agree, 1);
    assert.equal(rollup.concordanceRate, 1);
  });

  void it('links a report written before the AI result', async () => {
    const patient = await createPatient();
    const aiTime = dayStart(1);
    await create(
      chestReport(
        patient,
        new Date(aiTime.getTime() + 3 * HOUR_MS),
        'IMPRESSION: No evidence of pneumothorax.'
      )
    );
    const aiId = await createAiResult('cxr-pneumothorax', patient, aiTime, 0.2);

    const label = await labelWhen(aiId, (l) => l.label !== 'unknown');
    const [evidence] = label.evidence;
    assert.equal(label.label, 'negative');
    assert.ok(evidence, 'the label names its evidence');
    assert.equal(evidence.rule, 'pre-negation');
    assert.equal(evidence.trigger, 'no evidence of');

    const rollup = await concordanceWhen('cxr-pneumothorax', label.day, (r) => r.tn > 0);
    assert.equal(rollup.tn, 1);
    assert.equal(rollup.fp, 0);
  });

  void it('ignores a report of another study', async () => {
    const patient = await createPatient();
    const aiTime = dayStart(2);
    const aiStudy = await createStudy(patient);
    const otherStudy = await createStudy(patient);
    const aiId = await createAiResult('cxr-pneumothorax', patient, aiTime, 0.9, aiStudy);
    await create(
      chestReport(patient, new Date(aiTime.getTime() + HOUR_MS), 'Large left pneumothorax.', otherStudy)
    );
    await create(
      chestReport(patient, new Date(aiTime.getTime() + 2 * HOUR_MS), 'Possible tiny pneumothorax.', aiStudy)
    );

    const label = await labelWhen(aiId, (l) => l.label !== 'unknown');
    assert.equal(label.label, 'uncertain');
    assert.equal(label.evidence.length, 1);
  });

  void it('moves the rollup once on an amended report', async () => {
    const patient = await createPatient();
    const aiTime = dayStart(3);
    const aiId = await createAiResult('cxr-pneumothorax', patient, aiTime, 0.7);
    const report = await create(
      chestReport(patient, new Date(aiTime.getTime() + HOUR_MS), 'Left pneumothorax.')
    );
    const first = await labelWhen(aiId, (l) => l.label === 'positive');
    assert.equal((await concordanceWhen('cxr-pneumothorax', first.day, (r) => r.tp > 0)).tp, 1);

    const amended: DiagnosticReport = await update({
      ...report,
      status: 'amended' as const,
      conclusion: 'No pneumothorax; the line is a skin fold.',
    });
    const second = await labelWhen(aiId, (l) => l.label === 'negative');
    assert.equal(second.sourceVersionId, amended.meta?.versionId);

    const rollup = await concordanceWhen('cxr-pneumothorax', second.day, (r) => r.fp > 0);
    assert.equal(rollup.tp, 0);
    assert.equal(rollup.fp, 1);
    assert.equal(rollup.agree, 0);
    assert.equal(rollup.disagree, 1);

    // The FHIR label follows the amendment, right after the label document, and validates.
    const labelObservation = await waitFor(
      'the FHIR label to become NEG',
      async () => {
        const current = await fhir<Observation>('GET', `Observation/${labelObservationId(aiId)}`);
        return current.valueCodeableConcept?.coding?.[0]?.code === 'NEG' ? current : undefined;
      },
      DELIVERY_TIMEOUT_MS
    );
    assert.equal(labelObservation.focus?.[0]?.reference, `Observation/${aiId}`);
    const provenance = await fhir<Resource>('GET', `Provenance/${labelProvenanceId(aiId)}`);
    assert.deepEqual(await validationErrors(labelObservation), []);
    assert.deepEqual(await validationErrors(provenance), []);
  });

  void it('ignores redelivery of the same version', async () => {
    const patient = await createPatient();
    const aiTime = dayStart(4);
    const aiId = await createAiResult('cxr-pneumothorax', patient, aiTime, 0.6);
    const report = await create(
      chestReport(patient, new Date(aiTime.getTime() + HOUR_MS), 'Right pneumothorax.')
    );
    const first = await labelWhen(aiId, (l) => l.label === 'positive');

    const response = await fetch(`${hookUrl}/DiagnosticReport/${report.id}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/fhir+json', [SECRET_HEADER]: config.subscriptionSecret },
      body: JSON.stringify(report),
    });
    const outcome = (await response.json()) as OperationOutcome;
    assert.equal(response.status, 200);
    assert.match(outcome.issue[0]?.details?.text ?? '', /already queued/);

    // Applying the same evidence directly, as a bull retry would, changes nothing either.
    const stored = await groundTruth.store().get(aiId);
    const model = models.find((m) => m.modelId === 'cxr-pneumothorax');
    assert.ok(stored, 'the label is stored');
    assert.ok(model, 'the demo catalog has cxr-pneumothorax');
    const [evidence] = stored.evidence;
    assert.ok(evidence, 'the label names its evidence');
    const facts = {
      id: aiId,
      versionId: stored.aiVersionId,
      model,
      patient,
      effective: stored.aiEffective,
      score: stored.score,
      studyKeys: [],
    };
    const again = await groundTruth.store().apply(facts, 72, { kind: 'evidence', evidence });
    assert.equal(again.changed, false);
    assert.equal(again.document.revision, first.revision);
    const rollup = await concordanceWhen('cxr-pneumothorax', first.day, (r) => r.tp > 0);
    assert.equal(rollup.tp, 1);
    assert.equal(rollup.agree, 1);
  });

  void it('labels sepsis from a lab and a diagnosis', async () => {
    const aiTime = dayStart(5);
    const labPatient = await createPatient();
    const labAi = await createAiResult('sepsis-risk', labPatient, aiTime, 0.72);
    await create({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: LOINC, code: '2524-7' }] },
      subject: { reference: labPatient },
      effectiveDateTime: new Date(aiTime.getTime() + 3 * HOUR_MS).toISOString(),
      valueQuantity: { value: 4.1, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
    });

    const diagnosisPatient = await createPatient();
    const diagnosisAi = await createAiResult('sepsis-risk', diagnosisPatient, aiTime, 0.31);
    await create({
      resourceType: 'Condition',
      code: { coding: [{ system: 'http://snomed.info/sct', code: '91302008', display: 'Sepsis' }] },
      subject: { reference: diagnosisPatient },
      onsetDateTime: new Date(aiTime.getTime() + 20 * HOUR_MS).toISOString(),
    });

    const labLabel = await labelWhen(labAi, (l) => l.label !== 'unknown');
    assert.equal(labLabel.label, 'positive');
    assert.equal(labLabel.method, 'lab');
    const diagnosisLabel = await labelWhen(diagnosisAi, (l) => l.label !== 'unknown');
    assert.equal(diagnosisLabel.label, 'positive');
    assert.equal(diagnosisLabel.method, 'diagnosis');

    const rollup = await concordanceWhen('sepsis-risk', labLabel.day, (r) => r.tp + r.fn === 2);
    assert.equal(rollup.tp, 1);
    assert.equal(rollup.fn, 1);
    const labels = await readLabels(mongo.db(config.mongoDatabase), { modelId: 'sepsis-risk' });
    assert.deepEqual(labels.map((l) => l._id).sort(), [labAi, diagnosisAi].sort());

    for (const aiId of [labAi, diagnosisAi]) {
      // The worker writes the FHIR label right after the label document.
      const observation = await waitFor(
        `the FHIR label of ${aiId}`,
        async () => {
          const response = await fetch(`${config.fhirBaseUrl}/Observation/${labelObservationId(aiId)}`);
          return response.ok ? ((await response.json()) as Observation) : undefined;
        },
        DELIVERY_TIMEOUT_MS
      );
      assert.deepEqual(await validationErrors(observation), [], `label Observation of ${aiId} validates`);
    }
  });

  void it('labels negative after discharge at the horizon', async () => {
    const patient = await createPatient();
    const aiTime = new Date(Date.now() - 100 * HOUR_MS);
    const aiId = await createAiResult('sepsis-risk', patient, aiTime, 0.12);
    await labelWhen(aiId, (l) => l.label === 'unknown');
    assert.equal(await groundTruth.sweepHorizon(), 0, 'no discharge yet, so the label stays unknown');

    await create({
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' },
      subject: { reference: patient },
      period: { start: aiTime.toISOString(), end: new Date(aiTime.getTime() + 30 * HOUR_MS).toISOString() },
    });
    assert.equal(await groundTruth.sweepHorizon(), 1);
    const label = await groundTruth.store().get(aiId);
    assert.equal(label?.label, 'negative');
    assert.equal(label.method, 'horizon');
    assert.equal(
      await mongo
        .db(config.mongoDatabase)
        .collection(LABEL_COLLECTIONS.labels)
        .countDocuments({ _id: aiId } as never),
      1
    );
  });

  void it('rewrites a label lost in FHIR', async () => {
    const patient = await createPatient();
    const aiTime = dayStart(6);
    const aiId = await createAiResult('cxr-pneumothorax', patient, aiTime, 0.4);
    const report: DiagnosticReport & { id: string } = await create(
      chestReport(patient, new Date(aiTime.getTime() + HOUR_MS), 'Tiny left pneumothorax.')
    );
    const label = await labelWhen(aiId, (l) => l.publishedRevision === l.revision && l.label === 'positive');

    // Simulate a crash after the label document was written but before the FHIR write.
    await fhir('DELETE', `Provenance/${labelProvenanceId(aiId)}`);
    await fhir('DELETE', `Observation/${labelObservationId(aiId)}`);
    await mongo
      .db(config.mongoDatabase)
      .collection<LabelDocument>(LABEL_COLLECTIONS.labels)
      .updateOne({ _id: aiId }, { $unset: { publishedRevision: '' } });

    const deps = {
      client: createFhirClient(config),
      store: groundTruth.store(),
      rules: loadGroundTruthRules(),
      models,
      log: createLogger('ground-truth-test', 'warn'),
    };
    const job = { kind: 'evidence' as const, resourceType: 'DiagnosticReport' as const, id: report.id };
    const summary = await processGroundTruthJob(deps, { ...job, versionId: report.meta?.versionId ?? '1' });
    assert.equal(summary.changed, 0, 'the label itself does not change');

    const restored = await fhir<Observation>('GET', `Observation/${labelObservationId(aiId)}`);
    assert.equal(restored.valueCodeableConcept?.coding?.[0]?.code, 'POS');
    assert.equal((await groundTruth.store().get(aiId))?.publishedRevision, label.revision);
  });

  void it('retracts a report entered in error', async () => {
    const patient = await createPatient();
    const aiTime = dayStart(7);
    const aiId = await createAiResult('cxr-pneumothorax', patient, aiTime, 0.9);
    const report: DiagnosticReport & { id: string } = await create(
      chestReport(patient, new Date(aiTime.getTime() + HOUR_MS), 'Right pneumothorax.')
    );
    const first = await labelWhen(aiId, (l) => l.label === 'positive' && l.publishedRevision === l.revision);
    await concordanceWhen('cxr-pneumothorax', first.day, (r) => r.tp === 1);

    await update({ ...report, status: 'entered-in-error' as const });
    const retracted = await labelWhen(
      aiId,
      (l) => l.label === 'unknown' && l.publishedRevision === l.revision
    );
    assert.deepEqual(retracted.evidence, []);

    const rollup = await concordanceWhen('cxr-pneumothorax', first.day, (r) => r.tp === 0);
    assert.equal(rollup.agree, 0);
    const response = await fetch(`${config.fhirBaseUrl}/Observation/${labelObservationId(aiId)}`);
    assert.equal(response.status, 410, 'the FHIR label is deleted');
  });

  void it('rejects a delivery without the secret', async () => {
    const response = await fetch(`${hookUrl}/Condition/1`, { method: 'PUT', body: '{}' });
    assert.equal(response.status, 401);
  });
});
