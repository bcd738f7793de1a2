/**
 * Integration: runs a short scenario against HAPI for two fixture patients, with an in-test MLLP
 * listener standing in for the HL7 listener.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type {
  Bundle,
  Device,
  ImagingStudy,
  Observation,
  OperationOutcome,
  Patient,
  Provenance,
  Resource,
} from '@medplum/fhirtypes';
import { AIAST, AI_CONFIDENCE_EXTENSION, MODEL_ID_SYSTEM, hasAiLabel } from '@monitormed/common';
import { fhirRequest, fhirRequestOk } from '../fhir-http.js';
import { loadBundles } from '../load.js';
import { TEST_FHIR_BASE_URL, freshFixtureCopy, requireHapi } from '../testing.js';
import { REPLACEMENT_SCANNER, BASELINE_SCANNER } from './cxr-model.js';
import { VENDOR_RESULT_ID_SYSTEM } from './fhir-writes.js';
import { ScenarioError } from './scenario-error.js';
import { runScenario, type ScenarioOptions, type ScenarioSummary } from './run.js';
import { startTestMllpServer, type TestMllpServer } from './testing-mllp-server.js';

const FIXTURE_PATIENTS = ['3f2a9c10-5b7e-4d21-8c3a-0a1b2c3d4e51', '8d4e6f20-9a1b-4c3d-b5e6-f7a8b9c0d161'];

async function get<T extends Resource>(path: string): Promise<T> {
  return (await fhirRequestOk(TEST_FHIR_BASE_URL, { method: 'GET', path, timeoutMs: 30_000 })) as T;
}

async function search<T extends Resource>(path: string): Promise<T[]> {
  const bundle = await get<Bundle<T>>(`${path}&_count=200`);
  return (bundle.entry ?? []).flatMap((e) => (e.resource === undefined ? [] : [e.resource]));
}

const AI_RESULT_PROFILE = 'https://monitormed.dev/fhir/StructureDefinition/ai-result-observation';
const AI_PROVENANCE_PROFILE = 'http://hl7.org/fhir/uv/aitransparency/StructureDefinition/AI-Provenance';

/**
 * Runs HAPI's `$validate`, against `profile` when given and else against R4, and returns the messages of
 * error and fatal issues.
 */
async function validationErrors(resource: Resource, profile?: string): Promise<string[]> {
  const query = profile === undefined ? '' : `?profile=${encodeURIComponent(profile)}`;
  const { body } = await fhirRequest(TEST_FHIR_BASE_URL, {
    method: 'POST',
    path: `${resource.resourceType}/$validate${query}`,
    body: resource,
    timeoutMs: 60_000,
  });
  return (body as OperationOutcome).issue
    .filter((issue) => issue.severity === 'error' || issue.severity === 'fatal')
    .map((issue) => issue.diagnostics ?? issue.code);
}

void describe('runScenario against HAPI', () => {
  let mllp: TestMllpServer;
  let dir = '';
  const patientIds: string[] = [];
  const mrns: string[] = [];
  let options: ScenarioOptions;
  let summary: ScenarioSummary;

  before(async () => {
    await requireHapi();
    mllp = await startTestMllpServer();
    const copy = await freshFixtureCopy('bundles');
    dir = copy.dir;
    const load = await loadBundles({ folder: dir, fhirBaseUrl: TEST_FHIR_BASE_URL });
    assert.deepEqual(load.failures, []);

    for (const fixtureId of FIXTURE_PATIENTS) {
      const uuid = copy.ids.get(fixtureId) ?? '';
      const [patient] = await search<Patient>(
        `Patient?identifier=https://github.com/synthetichealth/synthea|${uuid}`
      );
      patientIds.push(patient?.id ?? '');
      mrns.push(uuid);
    }

    // A random seed keeps the control ids and study UIDs of this run apart from earlier runs.
    options = {
      patientIds,
      days: 2,
      startDate: '2026-03-02',
      seed: randomInt(1, 2 ** 31),
      resultsPerModelPerDay: 4,
      fhirDirectShare: 0.5,
      drift: { modelId: 'cxr-pneumothorax', startDay: 2 },
      config: { fhirBaseUrl: TEST_FHIR_BASE_URL, mllpHost: '127.0.0.1', mllpPort: mllp.port },
      ackTimeoutMs: 5000,
    };
    summary = await runScenario(options);
  });

  after(async () => {
    await mllp.close();
    if (dir !== '') {
      await rm(dir, { recursive: true, force: true });
    }
  });

  void it('counts results per model', () => {
    // Two patients scored twice a day reach 4 sepsis results; 4 imaging studies a day.
    assert.deepEqual(summary.dayRange, { first: '2026-03-02', last: '2026-03-03', days: 2 });
    assert.equal(summary.patients, 2);
    const sepsis = summary.results['sepsis-risk'];
    const cxr = summary.results['cxr-pneumothorax'];
    assert.ok(sepsis, 'sepsis-risk has counts');
    assert.ok(cxr, 'cxr-pneumothorax has counts');
    assert.equal(sepsis.total, 8);
    assert.equal(sepsis.fhir, 0);
    assert.equal(cxr.total, 8);
    assert.equal(summary.imagingStudies, 8);
    assert.equal(summary.fhirWrites, cxr.fhir);
    assert.equal(summary.messagesSent, 8 + cxr.hl7);
  });

  void it('gets an AA for every message', () => {
    assert.deepEqual(summary.acks, { AA: summary.messagesSent, AE: 0, AR: 0 });
    assert.equal(mllp.received.length, summary.messagesSent);
    assert.equal(mllp.framingErrors, 0);
  });

  void it('counts missing sepsis inputs', () => {
    // The first fixture patient has every input; the second only heart rate and blood pressure.
    assert.deepEqual(summary.missingInputs, {
      heartRate: 0,
      respiratoryRate: 1,
      temperature: 1,
      systolicBp: 0,
      wbc: 1,
      lactate: 1,
      creatinine: 1,
    });
  });

  void it('sends ORU^R01 with the patient MRN', () => {
    for (const message of mllp.received) {
      const [msh, pid] = message.split('\r').map((s) => s.split('|'));
      assert.ok(['SEPSISAI', 'CXRAI'].includes(msh?.[2] ?? ''), `MSH-3 ${msh?.[2] ?? ''}`);
      assert.equal(msh?.[3], 'MONITORMED_DEMO');
      const mrn = pid?.[3]?.split('^')[0] ?? '';
      assert.ok(mrns.includes(mrn), 'PID-3 carries a fixture MRN');
    }
  });

  void it('creates ImagingStudies with the scanner', async () => {
    const studies = (
      await Promise.all(patientIds.map((id) => search<ImagingStudy>(`ImagingStudy?subject=Patient/${id}`)))
    ).flat();
    assert.equal(studies.length, 8);
    for (const study of studies) {
      assert.equal(study.status, 'available');
      assert.equal(study.modality?.[0]?.code, 'DX');
      const series = study.series?.[0];
      assert.equal(series?.bodySite?.code, '51185008');
      const scanner = await get<Device>(series.performer?.[0]?.actor.reference ?? '');
      // The drift starts on day 2, so the scanner changes with the study's day.
      const expected = study.started?.startsWith('2026-03-02') ? BASELINE_SCANNER : REPLACEMENT_SCANNER;
      assert.equal(scanner.manufacturer, expected.manufacturer);
    }
  });

  void it('writes vendor Observations by the data contract', async () => {
    const observations = (
      await Promise.all(
        patientIds.map((id) =>
          search<Observation>(
            `Observation?subject=Patient/${id}&code=https://monitormed.dev/fhir/CodeSystem/demo-model-outputs|MM-CXR-PTX`
          )
        )
      )
    ).flat();
    assert.equal(observations.length, summary.fhirWrites);
    assert.ok(observations.length > 0, 'the 0.5 share wrote at least one Observation');

    for (const observation of observations) {
      assert.ok(hasAiLabel(observation.meta), 'AIAST label');
      assert.equal(observation.status, 'final');
      assert.equal(observation.identifier?.[0]?.system, VENDOR_RESULT_ID_SYSTEM);
      const p = observation.valueQuantity?.value ?? -1;
      assert.ok(p > 0, `probability ${String(p)} above 0`);
      assert.ok(p < 1, `probability ${String(p)} below 1`);
      assert.deepEqual(observation.valueQuantity, {
        value: p,
        unit: '1',
        system: 'http://unitsofmeasure.org',
        code: '1',
      });
      const confidence = observation.extension?.find((e) => e.url === AI_CONFIDENCE_EXTENSION)?.valueDecimal;
      assert.equal(confidence, Math.max(p, 1 - p));
      assert.equal(observation.interpretation?.[0]?.coding?.[0]?.code, p >= 0.5 ? 'POS' : 'NEG');
      assert.match(observation.effectiveDateTime ?? '', /^2026-03-0[23]T/);
      assert.match(observation.derivedFrom?.[0]?.reference ?? '', /^ImagingStudy\//);

      const device = await get<Device>(observation.device?.reference ?? '');
      assert.deepEqual(device.identifier?.[0], { system: MODEL_ID_SYSTEM, value: 'cxr-pneumothorax' });

      const [provenance] = await search<Provenance>(`Provenance?target=Observation/${observation.id ?? ''}`);
      assert.ok(provenance, 'a Provenance targets the Observation');
      assert.equal(provenance.agent[0]?.who.reference, observation.device?.reference);
      assert.deepEqual(provenance.reason, [{ coding: [AIAST] }]);
    }
  });

  void it('writes resources that validate', async () => {
    // Each run draws its seed, and a patient's 4 studies all go over HL7 in about 1 run in 16, so the
    // search covers every test patient.
    const subjects = patientIds.map((id) => `Patient/${id}`).join(',');
    const [observation] = await search<Observation>(
      `Observation?subject=${subjects}&identifier=${VENDOR_RESULT_ID_SYSTEM}|`
    );
    assert.ok(observation !== undefined, 'no test patient has a vendor Observation');
    assert.deepEqual(await validationErrors(observation, AI_RESULT_PROFILE), []);

    const study = await get<ImagingStudy>(observation.derivedFrom?.[0]?.reference ?? '');
    assert.deepEqual(await validationErrors(study), []);
    const scanner = await get<Device>(study.series?.[0]?.performer?.[0]?.actor.reference ?? '');
    assert.deepEqual(await validationErrors(scanner), []);

    // AI-Provenance slices agent by who.resolve() conforming to AI-Device. HAPI's $validate resolves that
    // reference only inside the validated Bundle, so the Provenance claims the profile in meta.profile
    // and is validated in a collection Bundle with the resources it and the Observation point at.
    const [provenance] = await search<Provenance>(`Provenance?target=Observation/${observation.id ?? ''}`);
    assert.ok(provenance !== undefined, 'no Provenance targets the vendor Observation');
    const claimed: Provenance = {
      ...provenance,
      meta: { ...provenance.meta, profile: [AI_PROVENANCE_PROFILE] },
    };
    const patient = await get<Patient>(observation.subject?.reference ?? '');
    const model = await get<Device>(observation.device?.reference ?? '');
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [patient, model, scanner, study, observation, claimed].map((resource) => ({
        fullUrl: `${TEST_FHIR_BASE_URL}/${resource.resourceType}/${resource.id ?? ''}`,
        resource,
      })),
    };
    assert.deepEqual(await validationErrors(bundle), []);
  });

  void it('adds nothing to FHIR when re-run', async () => {
    const count = async (type: string): Promise<number> =>
      (await Promise.all(patientIds.map((id) => search<Resource>(`${type}?subject=Patient/${id}`)))).flat()
        .length;
    const before = { studies: await count('ImagingStudy'), observations: await count('Observation') };

    const again = await runScenario(options);
    assert.equal(again.fhirWrites, summary.fhirWrites);
    assert.equal(await count('ImagingStudy'), before.studies);
    assert.equal(await count('Observation'), before.observations);
  });

  void it('fails clearly for an unknown patient', async () => {
    await assert.rejects(
      runScenario({ ...options, patientIds: ['monitormed-no-such-patient'] }),
      (err: unknown) =>
        err instanceof ScenarioError && /Patient\/monitormed-no-such-patient was not found/.test(err.message)
    );
  });
});
