/**
 * Conformance: loads a few real Synthea bundles (Synthea 2.x output with the information bundles) from
 * the shared test-data folder beside the checkout. The suite runs only when that folder exists.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import { fhirRequestOk } from './fhir-http.js';
import { loadBundles } from './load.js';
import { TEST_FHIR_BASE_URL, requireHapi } from './testing.js';

const SHARED_SYNTHEA = fileURLToPath(new URL('../../../shared/synthea/', import.meta.url));

interface ManifestEntry {
  file: string;
  bytes: number;
  observation_categories?: Record<string, number>;
}

/** Picks the information bundles, the two smallest patients, and the smallest patient with a `vital-sign` category. */
function pickFiles(): string[] {
  const manifest = JSON.parse(readFileSync(join(SHARED_SYNTHEA, 'manifest.json'), 'utf8')) as ManifestEntry[];
  const names = manifest.map((e) => ({ ...e, name: e.file.replace(/^r4-bundles\//, '') }));
  const information = names.filter((e) => /^(hospital|practitioner)Information/.test(e.name));
  const patients = names.filter((e) => !information.includes(e)).sort((a, b) => a.bytes - b.bytes);
  const withOddCategory = patients.find((e) => (e.observation_categories?.['vital-sign'] ?? 0) > 0);
  const picked = new Set([
    ...information,
    ...patients.slice(0, 2),
    ...(withOddCategory === undefined ? [] : [withOddCategory]),
  ]);
  return [...picked].map((e) => e.name);
}

void describe(
  'loadBundles with shared Synthea bundles',
  { skip: existsSync(SHARED_SYNTHEA) ? false : 'no shared data folder beside the checkout' },
  () => {
    let dir = '';
    let files: string[] = [];
    before(async () => {
      await requireHapi();
      files = pickFiles();
      dir = await mkdtemp(join(tmpdir(), 'monitormed-shared-'));
      for (const file of files) {
        await symlink(join(SHARED_SYNTHEA, 'r4-bundles', file), join(dir, file));
      }
    });
    after(async () => {
      if (dir !== '') {
        await rm(dir, { recursive: true, force: true });
      }
    });

    void it('loads without failures, twice', { timeout: 600_000 }, async () => {
      const first = await loadBundles({ folder: dir, fhirBaseUrl: TEST_FHIR_BASE_URL });
      assert.deepEqual(first.failures, []);
      assert.equal(first.bundlesLoaded, files.length);

      // Another run on the shared server may have loaded these already, so only the second run's
      // creations are asserted: none.
      const second = await loadBundles({ folder: dir, fhirBaseUrl: TEST_FHIR_BASE_URL });
      assert.deepEqual(second.failures, []);
      assert.equal(second.created, 0);
      assert.equal(second.existing, first.created + first.existing);
    });

    void it('keeps vital-sign categories as written', { timeout: 600_000 }, async () => {
      const oddFile = files.find((f) => readFileSync(join(dir, f), 'utf8').includes('"vital-sign"'));
      assert.ok(oddFile, 'a picked bundle has an Observation with category vital-sign');
      await loadBundles({ folder: dir, fhirBaseUrl: TEST_FHIR_BASE_URL });

      const source = JSON.parse(readFileSync(join(dir, oddFile), 'utf8')) as Bundle;
      const patient = source.entry?.find((e) => e.resource?.resourceType === 'Patient')?.resource as Patient;
      const synthea = patient.identifier?.find(
        (i) => i.system === 'https://github.com/synthetichealth/synthea'
      );
      const found = (await fhirRequestOk(TEST_FHIR_BASE_URL, {
        method: 'GET',
        path: `Patient?identifier=${encodeURIComponent(`${synthea?.system ?? ''}|${synthea?.value ?? ''}`)}`,
        timeoutMs: 30_000,
      })) as Bundle<Patient>;
      const patientId = found.entry?.[0]?.resource?.id ?? '';
      assert.notEqual(patientId, '');

      const odd = (await fhirRequestOk(TEST_FHIR_BASE_URL, {
        method: 'GET',
        path: `Observation?subject=Patient/${patientId}&category=vital-sign`,
        timeoutMs: 30_000,
      })) as Bundle<Observation>;
      assert.ok((odd.entry?.length ?? 0) > 0, 'the vital-sign Observation is stored with its category');
    });
  }
);
