/**
 * Helpers for this workspace's tests: a clear failure when HAPI is down, and copies of the fixture
 * bundles with fresh ids so that every test run creates its own resources on the shared server.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@monitormed/common';
import { fhirRequest } from './fhir-http.js';

/** Folder of the fixture bundles written for these tests. */
export const FIXTURES_DIR = fileURLToPath(new URL('../test-fixtures/', import.meta.url));

/** FHIR base URL the tests use. */
export const TEST_FHIR_BASE_URL = loadConfig().fhirBaseUrl;

/**
 * Fails with a message saying how to start HAPI when it does not respond to `GET /metadata`.
 * @param baseUrl - FHIR base URL.
 */
export async function requireHapi(baseUrl = TEST_FHIR_BASE_URL): Promise<void> {
  let status = 0;
  try {
    status = (await fhirRequest(baseUrl, { method: 'GET', path: 'metadata', timeoutMs: 30_000 })).status;
  } catch {
    // status stays 0 and the error below explains what to do.
  }
  if (status !== 200) {
    throw new Error(
      `HAPI FHIR is not available at ${baseUrl} (status ${String(status)}). Start it with: peers/peers.sh start hapi`
    );
  }
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** NPI values of the fixtures start with 99999, and they are replaced like the uuids. */
const FIXTURE_NPI = /99999\d{5}/g;

/**
 * Copies a fixture folder to a temporary folder, replacing every uuid and NPI with a new value that is
 * consistent across the files, so the copy loads as new resources.
 * @param folder - Fixture folder name under test-fixtures, such as `bundles`.
 * @returns The temporary folder and the uuid mapping from fixture values to new ones.
 */
export async function freshFixtureCopy(folder: string): Promise<{ dir: string; ids: Map<string, string> }> {
  const source = join(FIXTURES_DIR, folder);
  const dir = await mkdtemp(join(tmpdir(), 'monitormed-synthea-'));
  const ids = new Map<string, string>();
  const replace = (value: string, make: () => string): string => {
    const existing = ids.get(value);
    if (existing !== undefined) {
      return existing;
    }
    const created = make();
    ids.set(value, created);
    return created;
  };

  for (const file of await readdir(source)) {
    const text = (await readFile(join(source, file), 'utf8'))
      .replace(UUID, (m) => replace(m, randomUUID))
      .replace(FIXTURE_NPI, (m) => replace(m, () => `8${String(randomInt(100_000_000, 999_999_999))}`));
    await writeFile(
      join(
        dir,
        file.replace(UUID, (m) => ids.get(m) ?? m)
      ),
      text
    );
  }
  return { dir, ids };
}
