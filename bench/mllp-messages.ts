/** Patients, models and ORU^R01 messages of one benchmark run, and the count of its results in HAPI. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle } from '@medplum/fhirtypes';
import { MODEL_ID_SYSTEM, encodeFrame, loadModelCatalog, type AiModelDefinition } from '@monitormed/common';
import { buildOruR01, type PlannedResult } from '@monitormed/synthea-data';
import type { FrameSource } from './mllp-load.js';

/**
 * Identifier system of the benchmark's patients. It differs from the Synthea MRN system, so bench patients
 * never join the demo population that the scenario lists by that system.
 */
export const BENCH_MRN_SYSTEM = 'https://monitormed.dev/fhir/sid/bench-mrn';

/** A patient the run created in HAPI. */
export interface BenchPatient {
  mrn: string;
  gender: 'female' | 'male';
  birthDate: string;
}

async function fhirRequest<T>(
  fhirBaseUrl: string,
  path: string,
  init: { method?: string; body?: string } = {}
): Promise<T> {
  const response = await fetch(`${fhirBaseUrl}/${path}`, {
    ...init,
    headers: { 'content-type': 'application/fhir+json', 'cache-control': 'no-cache' },
  });
  if (!response.ok) {
    throw new Error(
      `FHIR ${init.method ?? 'GET'} ${path} failed with HTTP ${response.status}: ${await response.text()}`
    );
  }
  return (await response.json()) as T;
}

/**
 * Creates `count` patients with MRNs `{tag}-{n}` in one transaction (conditional creates, so a rerun with
 * the same tag creates none).
 */
export async function createBenchPatients(
  fhirBaseUrl: string,
  tag: string,
  count: number
): Promise<BenchPatient[]> {
  const patients: BenchPatient[] = Array.from({ length: count }, (_, index) => ({
    mrn: `${tag}-${index + 1}`,
    gender: index % 2 === 0 ? 'female' : 'male',
    birthDate: `19${String(40 + (index % 50)).padStart(2, '0')}-0${1 + (index % 9)}-15`,
  }));
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: patients.map((patient) => ({
      resource: {
        resourceType: 'Patient',
        identifier: [{ system: BENCH_MRN_SYSTEM, value: patient.mrn }],
        gender: patient.gender,
        birthDate: patient.birthDate,
      },
      request: {
        method: 'POST',
        url: 'Patient',
        ifNoneExist: `identifier=${BENCH_MRN_SYSTEM}|${patient.mrn}`,
      },
    })),
  };
  await fhirRequest<Bundle>(fhirBaseUrl, '', { method: 'POST', body: JSON.stringify(bundle) });
  return patients;
}

/**
 * Writes a copy of the demo model catalog whose model ids end with `suffix`, so every conditional Device
 * create of the run matches only the run's own Devices, and returns the models and the file path.
 */
export function writeBenchCatalog(
  dir: string,
  suffix: string
): { models: AiModelDefinition[]; file: string } {
  const models = loadModelCatalog().map((model) => ({ ...model, modelId: `${model.modelId}-${suffix}` }));
  const file = join(dir, `models-${suffix}.json`);
  writeFileSync(file, JSON.stringify(models));
  return { models, file };
}

/**
 * Returns a source of framed ORU^R01 messages built by the scenario's `buildOruR01`, alternating the
 * models and patients, with control ids `{tag}-{n}` unique to the run.
 * @param enhanced - Sets MSH-15 and MSH-16 to AL, which requests an accept ACK and an application ACK.
 */
export function oruSource(
  models: AiModelDefinition[],
  patients: BenchPatient[],
  tag: string,
  enhanced: boolean
): FrameSource {
  let sequence = 0;
  return () => {
    sequence += 1;
    const model = models[sequence % models.length];
    const patient = patients[sequence % patients.length];
    if (model === undefined || patient === undefined) {
      throw new Error('The benchmark needs at least one model and one patient.');
    }
    const result: PlannedResult = {
      modelId: model.modelId,
      day: 1,
      sequence,
      // buildOruR01 reads only the identity fields of the patient; the sepsis inputs are not sent.
      patient: {
        id: '',
        mrn: patient.mrn,
        family: 'Bench',
        givenNames: 'Synthetic',
        birthDate: patient.birthDate,
        gender: patient.gender,
        inputs: {} as PlannedResult['patient']['inputs'],
        missingInputs: [],
      },
      time: new Date(),
      probability: Math.round(Math.random() * 10_000) / 10_000,
      transport: 'hl7',
      controlId: `${tag}-${sequence}`,
    };

    const segments = buildOruR01(model, result).split('\r');
    const msh = (segments[0] ?? '').split('|');
    const pid = (segments[1] ?? '').split('|');
    // PID-3 moves to the bench system; buildOruR01 always writes the Synthea MRN system.
    pid[3] = `${patient.mrn}^^^BENCH&${BENCH_MRN_SYSTEM}&URI^MR`;
    if (enhanced) {
      while (msh.length < 17) {
        msh.push('');
      }
      msh[15] = 'AL';
      msh[16] = 'AL';
    }
    segments[0] = msh.join('|');
    segments[1] = pid.join('|');
    return encodeFrame(segments.join('\r'));
  };
}

/**
 * Counts the Observations in HAPI whose device is a Device of `models` (the run's own Devices, found by
 * their model id), which are exactly the results of this run.
 */
export async function countLandedResults(fhirBaseUrl: string, models: AiModelDefinition[]): Promise<number> {
  let total = 0;
  for (const model of models) {
    const devices = await fhirRequest<Bundle>(
      fhirBaseUrl,
      `Device?identifier=${encodeURIComponent(`${MODEL_ID_SYSTEM}|${model.modelId}`)}&_elements=id`
    );
    for (const entry of devices.entry ?? []) {
      const counted = await fhirRequest<Bundle>(
        fhirBaseUrl,
        `Observation?device=Device/${entry.resource?.id ?? ''}&_summary=count`
      );
      total += counted.total ?? 0;
    }
  }
  return total;
}
