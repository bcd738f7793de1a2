import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Bundle, Encounter, Observation, Patient } from '@medplum/fhirtypes';
import { FhirHttpError } from './fhir-http-error.js';
import { fhirRequestOk } from './fhir-http.js';
import { loadBundles } from './load.js';
import { TEST_FHIR_BASE_URL, freshFixtureCopy, requireHapi } from './testing.js';

/** Fixture ids (see test-fixtures/bundles) that the fresh copy replaces. */
const FIXTURE_PATIENT = '3f2a9c10-5b7e-4d21-8c3a-0a1b2c3d4e51';
const FIXTURE_ENCOUNTER = '3f2a9c10-5b7e-4d21-8c3a-0a1b2c3d4e52';
const FIXTURE_ORGANIZATION = '7c1f0b8e-3d1a-4f0e-9a52-1e6f2b9c4d01';

async function search<T>(query: string): Promise<T[]> {
  const bundle = (await fhirRequestOk(TEST_FHIR_BASE_URL, {
    method: 'GET',
    path: query,
    timeoutMs: 30_000,
  })) as Bundle;
  return (bundle.entry ?? []).map((e) => e.resource as T);
}

void describe('loadBundles against HAPI', () => {
  const folders: string[] = [];
  before(async () => {
    await requireHapi();
  });
  after(async () => {
    for (const folder of folders) {
      await rm(folder, { recursive: true, force: true });
    }
  });

  void it('creates on first run, nothing on second', async () => {
    const { dir, ids } = await freshFixtureCopy('bundles');
    folders.push(dir);

    const first = await loadBundles({ folder: dir, fhirBaseUrl: TEST_FHIR_BASE_URL });
    assert.deepEqual(first.failures, []);
    assert.equal(first.bundles, 4);
    assert.equal(first.bundlesLoaded, 4);
    // Hospital 1, practitioner 1, first patient 11 entries (its Organization entry matches), second 5.
    assert.equal(first.created, 1 + 1 + 10 + 4);
    assert.equal(first.existing, 2);

    const second = await loadBundles({ folder: dir, fhirBaseUrl: TEST_FHIR_BASE_URL });
    assert.deepEqual(second.failures, []);
    assert.equal(second.created, 0);
    assert.equal(second.existing, first.created + first.existing);

    const patientUuid = ids.get(FIXTURE_PATIENT) ?? '';
    const patients = await search<Patient>(
      `Patient?identifier=https://github.com/synthetichealth/synthea|${patientUuid}`
    );
    assert.equal(patients.length, 1, 'exactly one Patient after two loads');
  });

  void it('resolves urn and match-URL references', async () => {
    const { dir, ids } = await freshFixtureCopy('bundles');
    folders.push(dir);
    await loadBundles({ folder: dir, fhirBaseUrl: TEST_FHIR_BASE_URL });

    const encounterId = ids.get(FIXTURE_ENCOUNTER) ?? '';
    const encounter = (await fhirRequestOk(TEST_FHIR_BASE_URL, {
      method: 'GET',
      path: `Encounter/${encounterId}`,
      timeoutMs: 30_000,
    })) as Encounter;
    assert.match(encounter.subject?.reference ?? '', /^Patient\/\w/);
    assert.match(encounter.participant?.[0]?.individual?.reference ?? '', /^Practitioner\/\w/);

    const organizations = await search<{ id: string }>(
      `Organization?identifier=https://github.com/synthetichealth/synthea|${ids.get(FIXTURE_ORGANIZATION) ?? ''}`
    );
    assert.equal(organizations.length, 1, 'the Organization in two bundles exists once');
    assert.equal(encounter.serviceProvider?.reference, `Organization/${organizations[0]?.id ?? ''}`);
  });

  void it('keeps the vital-sign category as written', async () => {
    const { dir, ids } = await freshFixtureCopy('bundles');
    folders.push(dir);
    await loadBundles({ folder: dir, fhirBaseUrl: TEST_FHIR_BASE_URL });

    const patient = (
      await search<Patient>(
        `Patient?identifier=https://github.com/synthetichealth/synthea|${ids.get(FIXTURE_PATIENT) ?? ''}`
      )
    )[0];
    const temperatures = await search<Observation>(
      `Observation?subject=Patient/${patient?.id ?? ''}&code=http://loinc.org|8310-5`
    );
    assert.equal(temperatures[0]?.category?.[0]?.coding?.[0]?.code, 'vital-sign');
  });

  void it('reports malformed bundles and loads the rest', async () => {
    const { dir } = await freshFixtureCopy('malformed');
    folders.push(dir);
    // Written here because a fixture file with broken JSON would break formatting checks of the repository.
    await writeFile(
      join(dir, 'A_invalid_json.json'),
      '{"resourceType": "Bundle", "type": "transaction", "entry": [\n'
    );
    const summary = await loadBundles({ folder: dir, fhirBaseUrl: TEST_FHIR_BASE_URL });

    assert.equal(summary.bundles, 4);
    assert.equal(summary.bundlesLoaded, 1);
    assert.equal(summary.created, 1);
    const byFile = new Map(summary.failures.map((f) => [f.file, f]));
    assert.match(byFile.get('A_invalid_json.json')?.message ?? '', /^Invalid JSON/);
    assert.match(byFile.get('B_collection_bundle.json')?.message ?? '', /Bundle.type is "collection"/);
    const rejected = byFile.get('C_rejected_by_server.json');
    assert.equal(rejected?.status, 400);
    assert.match(rejected.message, /AdministrativeGender/);
  });

  void it('applies the patient bundle limit', async () => {
    const { dir } = await freshFixtureCopy('bundles');
    folders.push(dir);
    const summary = await loadBundles({ folder: dir, fhirBaseUrl: TEST_FHIR_BASE_URL, limit: 1 });
    assert.equal(summary.bundles, 3);
  });

  void it('stops when the server is unreachable', async () => {
    // A port that was free a moment ago has nothing listening on it.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });

    const { dir } = await freshFixtureCopy('bundles');
    folders.push(dir);
    await assert.rejects(
      loadBundles({ folder: dir, fhirBaseUrl: `http://127.0.0.1:${String(port)}/fhir` }),
      (err: unknown) =>
        err instanceof FhirHttpError && err.unreachable && /Cannot reach the FHIR server/.test(err.message)
    );
  });
});
