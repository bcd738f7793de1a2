import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bundle, Identifier, Patient } from '@medplum/fhirtypes';
import { AIAST_SEARCH } from '@monitormed/common';
import {
  generatePopulation,
  loadBundles,
  orderBundleFiles,
  type LoadSummary,
} from '@monitormed/synthea-data';
import { countResources } from './summary.js';

/** Synthea's own identifier system for every resource it generates. */
const SYNTHEA_ID_SYSTEM = 'https://github.com/synthetichealth/synthea';

/** Folder of the shared Synthea bundles beside the checkout, used when present. */
export const SHARED_BUNDLES_DIR = fileURLToPath(
  new URL('../../../shared/synthea/r4-bundles', import.meta.url)
);

/** Folder of the population the demo generates when there are no shared bundles. */
export const GENERATED_DIR = fileURLToPath(new URL('../../.peers/synthea-demo', import.meta.url));

/** Source of the demo patients and the FHIR Patient ids the scenario simulates. */
export interface DemoPatients {
  source: 'shared' | 'generated';
  folder: string;
  load: LoadSummary;
  patientIds: string[];
}

function isInformationFile(file: string): boolean {
  return file.startsWith('hospitalInformation') || file.startsWith('practitionerInformation');
}

async function patientIdentifier(file: string): Promise<Identifier | undefined> {
  const bundle = JSON.parse(await readFile(file, 'utf8')) as Bundle;
  const patient = bundle.entry?.find((e) => e.resource?.resourceType === 'Patient')?.resource as
    Patient | undefined;
  return patient?.identifier?.find((i) => i.system === SYNTHEA_ID_SYSTEM);
}

async function findPatientId(fhirBaseUrl: string, identifier: Identifier): Promise<string | undefined> {
  const token = encodeURIComponent(`${identifier.system ?? ''}|${identifier.value ?? ''}`);
  const response = await fetch(`${fhirBaseUrl}/Patient?identifier=${token}&_elements=id`, {
    headers: { accept: 'application/fhir+json' },
  });
  if (!response.ok) {
    throw new Error(`Patient search failed with HTTP ${response.status}.`);
  }
  const bundle = (await response.json()) as Bundle;
  return bundle.entry?.[0]?.resource?.id;
}

/**
 * Loads `count` Synthea patients into the FHIR server, from the shared bundles when they exist and
 * otherwise from a population Synthea generates with `seed`, and returns their FHIR ids. Loading is
 * idempotent, so a second demo run finds the same patients.
 * @param options - FHIR server, patient count, seed and a progress callback.
 * @returns The source, the load summary and the Patient ids.
 */
export async function prepareDemoPatients(options: {
  fhirBaseUrl: string;
  count: number;
  seed: number;
  log: (line: string) => void;
}): Promise<DemoPatients> {
  let source: DemoPatients['source'] = 'shared';
  let folder = SHARED_BUNDLES_DIR;

  if (!existsSync(SHARED_BUNDLES_DIR)) {
    source = 'generated';
    options.log(
      `No shared bundles at ${SHARED_BUNDLES_DIR}; generating ${options.count} patients with Synthea.`
    );
    const generated = await generatePopulation({
      population: options.count,
      seed: options.seed,
      outDir: GENERATED_DIR,
    });
    folder = generated.fhirDir;
  }

  options.log(
    `Loading ${options.count} patients from ${folder}, after its hospital and practitioner bundles; each bundle takes seconds to a minute.`
  );
  const load = await loadBundles({
    folder,
    fhirBaseUrl: options.fhirBaseUrl,
    limit: options.count,
    // Synthea names bundle files after the patient, so only the count is logged.
    onProgress: (progress) => {
      options.log(`  ${progress.done} bundles loaded (patients, hospitals and practitioners).`);
    },
  });

  // loadBundles takes the first `count` patient files in this order; read the same files back.
  const files = orderBundleFiles((await readdir(folder)).filter((f) => f.endsWith('.json')))
    .filter((f) => !isInformationFile(f))
    .slice(0, options.count);
  const patientIds: string[] = [];
  for (const file of files) {
    const identifier = await patientIdentifier(join(folder, file));
    const id = identifier === undefined ? undefined : await findPatientId(options.fhirBaseUrl, identifier);
    if (id !== undefined) {
      patientIds.push(id);
    }
  }
  return { source, folder, load, patientIds };
}

/**
 * Counts the AI results that earlier demo runs left on the demo patients. Every run writes its results
 * on the same patients and simulated dates. Each further run on the same HAPI FHIR was measured slower
 * (2.7, 9 and 17 minutes in a row), so the demo logs the count before it starts.
 * @returns The number of AI-labelled Observations of the patients.
 */
export async function countEarlierResults(fhirBaseUrl: string, patientIds: string[]): Promise<number> {
  const query = new URLSearchParams({
    subject: patientIds.map((id) => `Patient/${id}`).join(','),
    _security: AIAST_SEARCH,
  });
  return countResources(fhirBaseUrl, `Observation?${query.toString()}`);
}
