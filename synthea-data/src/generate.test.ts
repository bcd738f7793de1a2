/**
 * Runs Synthea from Maven Central: needs `mvn` and `java` on PATH, and on the first run Maven Central
 * access to fill synthea/lib. The load step needs HAPI.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SYNTHEA_VERSION, generatePopulation } from './generate.js';
import { loadBundles } from './load.js';
import { SyntheaError } from './synthea-error.js';
import { TEST_FHIR_BASE_URL, requireHapi } from './testing.js';

void describe('generatePopulation', () => {
  const folders: string[] = [];
  after(async () => {
    for (const folder of folders) {
      await rm(folder, { recursive: true, force: true });
    }
  });

  void it('rejects invalid options before running', async () => {
    await assert.rejects(
      generatePopulation({ population: 0, seed: 1, outDir: '/tmp/unused' }),
      (err: unknown) => err instanceof SyntheaError && /Invalid population 0/.test(err.message)
    );
    await assert.rejects(
      generatePopulation({ population: 1, seed: 1.5, outDir: '/tmp/unused' }),
      /Invalid seed 1.5/
    );
    await assert.rejects(
      generatePopulation({ population: 1, seed: 1, outDir: '/tmp/unused', referenceDate: '2026-03-01' }),
      /Invalid reference date/
    );
  });

  void it('generates the same loadable bundles for a seed', { timeout: 1_200_000 }, async () => {
    await requireHapi();
    const first = await mkdtemp(join(tmpdir(), 'monitormed-synthea-gen-'));
    const second = await mkdtemp(join(tmpdir(), 'monitormed-synthea-gen-'));
    folders.push(first, second);

    const result = await generatePopulation({ population: 1, seed: 7, outDir: first });
    await generatePopulation({ population: 1, seed: 7, outDir: second });
    assert.equal(result.syntheaVersion, SYNTHEA_VERSION);
    const files = (await readdir(result.fhirDir)).sort();
    // The information bundles are named after the wall-clock time; patient bundles after name and uuid.
    const patientFiles = (names: string[]): string[] =>
      names.filter((f) => !/^(hospital|practitioner)Information/.test(f));
    assert.deepEqual(
      patientFiles(files),
      patientFiles((await readdir(join(second, 'fhir'))).sort()),
      'same seed, same patients'
    );
    assert.ok(files.some((f) => f.startsWith('hospitalInformation')));
    assert.ok(files.some((f) => f.startsWith('practitionerInformation')));
    assert.ok(result.bundleFiles >= 3, 'at least one patient bundle');

    // The uuids depend only on the seed, so an earlier run may have loaded them; failures are what count.
    const load = await loadBundles({ folder: result.fhirDir, fhirBaseUrl: TEST_FHIR_BASE_URL });
    assert.deepEqual(load.failures, []);
    assert.equal(load.bundlesLoaded, result.bundleFiles);
  });
});
