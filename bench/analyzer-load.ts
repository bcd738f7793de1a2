/**
 * Data of the analyzer throughput benchmark. HAPI gets a model Device, patients with vital signs and labs,
 * and AI result Observations, built as the analyzers' test helpers build them. The run's MongoDB database
 * gets an active surrogate, so that every result with inputs gets MC dropout.
 */
import type { Bundle, BundleEntry, Device, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { buildModelDevice, connectMongo, type FhirClient, type MonitorMedConfig } from '@monitormed/common';
import { createRng } from '@monitormed/synthea-data';
import {
  featureNames,
  featureSpecFor,
  type SurrogateFeatureSpec,
} from '../analyzers/src/surrogate/features.js';
import { exportMlpToOnnx } from '../analyzers/src/surrogate/onnx-export.js';
import { SurrogateStore } from '../analyzers/src/surrogate/store.js';
import { syntheticSepsisPairs } from '../analyzers/src/surrogate/synthetic-pairs.js';
import { trainSurrogate } from '../analyzers/src/surrogate/train.js';
import { buildAiObservation } from '../analyzers/src/testing/stack.js';

/** Identifier system of the benchmark's patients, apart from the demo's MRNs. */
const BENCH_PATIENT_SYSTEM = 'https://monitormed.dev/fhir/sid/bench-analyzer-patient';

/** Entries per transaction, small enough that HAPI responds to each within its request timeout. */
const TRANSACTION_SIZE = 300;

/** Inputs written per patient and day: LOINC code, mean and standard deviation. */
const DAILY_INPUTS: readonly [string, number, number][] = [
  ['8867-4', 88, 18], // heart rate
  ['9279-1', 18, 4], // respiratory rate
  ['6690-2', 8.5, 3], // leukocytes
  ['2524-7', 1.6, 0.9], // lactate
];

/**
 * Returns the sepsis model's inputs under another model id, as the bench workers register them.
 * @throws Error when the sepsis-risk spec is missing.
 */
export function benchFeatureSpec(modelId: string): SurrogateFeatureSpec {
  const sepsis = featureSpecFor('sepsis-risk');
  if (sepsis === undefined) {
    throw new Error('The sepsis-risk feature spec is missing.');
  }
  return { ...sepsis, modelId };
}

/**
 * Creates the bench model's AI Device. The model id is unique to the run, so no conditional create of the
 * demo models ever matches it.
 * @returns The Device id.
 */
export async function createBenchDevice(fhir: FhirClient, modelId: string): Promise<string> {
  const device = (await fhir.create({
    resourceType: 'Device',
    body: {
      ...buildModelDevice({
        modelId,
        name: `Analyzer benchmark model ${modelId}`,
        version: '1.0.0',
        manufacturer: 'MonitorMed benchmark',
        kind: 'Machine-Learning-Models',
        intendedUse: 'Synthetic model for the analyzer throughput benchmark',
        match: {},
        outputCode: { system: 'https://monitormed.dev/fhir/CodeSystem/test', code: 'TEST-RISK' },
        positiveThreshold: 0.5,
      }),
    },
  })) as unknown as Device;
  if (device.id === undefined) {
    throw new Error('HAPI returned the created Device without id.');
  }
  return device.id;
}

/** Sizes of one load. */
export interface LoadOptions {
  deviceId: string;
  patients: number;
  results: number;
  /** Days (UTC) over which the results spread, so the drift job evaluates several windows. */
  days: number;
  /** First day, such as `2025-09-01`. */
  firstDay: string;
  seed: number;
}

/**
 * Loads patients, one set of vital signs and labs per patient and day at 06:00, and the AI results from
 * 08:00 on, round-robin over patients and days.
 * @returns The ids of the AI result Observations, in creation order.
 */
export async function loadBenchResults(fhir: FhirClient, options: LoadOptions): Promise<string[]> {
  const rng = createRng(options.seed);
  const patientEntries: BundleEntry[] = Array.from({ length: options.patients }, (_, index) => {
    const patient: Patient = {
      resourceType: 'Patient',
      identifier: [{ system: BENCH_PATIENT_SYSTEM, value: `${options.deviceId}-${String(index)}` }],
      gender: index % 2 === 0 ? 'female' : 'male',
      birthDate: `19${String(40 + (index % 50)).padStart(2, '0')}-05-15`,
    };
    return { resource: patient, request: { method: 'POST', url: 'Patient' } };
  });
  const patientIds = (await runTransactions(fhir, patientEntries)).map(idFromLocation);

  const firstDayMs = Date.parse(`${options.firstDay}T00:00:00Z`);
  const dayStart = (day: number): number => firstDayMs + day * 86_400_000;
  const inputs: Resource[] = [];
  for (const patientId of patientIds) {
    for (let day = 0; day < options.days; day += 1) {
      for (const [code, mean, sd] of DAILY_INPUTS) {
        inputs.push(
          vital(patientId, code, Math.max(0.1, mean + sd * rng.normal()), dayStart(day) + 6 * 3_600_000)
        );
      }
    }
  }
  await runTransactions(fhir, inputs.map(postEntry));

  const results: Resource[] = [];
  for (let index = 0; index < options.results; index += 1) {
    const patientId = patientIds[index % patientIds.length] ?? '';
    const day = Math.floor(index / patientIds.length) % options.days;
    const minute = 8 * 60 + Math.floor(index / (patientIds.length * options.days));
    const score = 1 / (1 + Math.exp(-(-1.5 + 1.2 * rng.normal())));
    const effective = new Date(dayStart(day) + minute * 60_000).toISOString();
    results.push(buildAiObservation({ deviceId: options.deviceId, patientId, score, effective }));
  }
  return (await runTransactions(fhir, results.map(postEntry))).map(idFromLocation);
}

/**
 * Stores a surrogate of the bench model, trained on seeded synthetic pairs, as the active version in the
 * run's database.
 * @returns The surrogate version.
 */
export async function storeBenchSurrogate(config: MonitorMedConfig, modelId: string): Promise<number> {
  const spec = benchFeatureSpec(modelId);
  const pairs = syntheticSepsisPairs(spec, 600, 7);
  const { model, fidelity, splitSizes } = trainSurrogate(pairs, 0.5, { maxEpochs: 60 });
  const names = featureNames(spec);
  const mongo = await connectMongo(config, 5_000);
  try {
    const store = new SurrogateStore(mongo.db);
    await store.ensureIndexes();
    const stored = await store.saveVersion(
      {
        modelId,
        featureNames: names,
        trainingSize: pairs.length,
        splitSizes,
        fidelity,
        dropoutRate: model.dropoutRate,
        hiddenSizes: model.layers.slice(0, -1).map((layer) => layer.outputSize),
        lookbackHours: spec.lookbackHours,
        source: 'csv',
        trainedAt: new Date(),
      },
      () => exportMlpToOnnx(model, { dropout: 'random-mask', metadata: {}, featureNames: names })
    );
    return stored.version;
  } finally {
    await mongo.client.close();
  }
}

function vital(patientId: string, code: string, value: number, atMs: number): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: new Date(atMs).toISOString(),
    valueQuantity: { value: Math.round(value * 100) / 100 },
  };
}

function postEntry(resource: Resource): BundleEntry {
  return { resource, request: { method: 'POST', url: resource.resourceType } };
}

/** Sends the entries in transactions of {@link TRANSACTION_SIZE} and returns each entry's location. */
async function runTransactions(fhir: FhirClient, entries: BundleEntry[]): Promise<string[]> {
  const locations: string[] = [];
  for (let start = 0; start < entries.length; start += TRANSACTION_SIZE) {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: entries.slice(start, start + TRANSACTION_SIZE),
    };
    const response = (await fhir.transaction({ body: { ...bundle } })) as unknown as Bundle;
    for (const entry of response.entry ?? []) {
      locations.push(entry.response?.location ?? '');
    }
  }
  return locations;
}

/** Reads the id from a transaction response location such as `Observation/12/_history/1`. */
function idFromLocation(location: string): string {
  const id = location.split('/')[1];
  if (id === undefined || id === '') {
    throw new Error(`HAPI returned the transaction entry location '${location}' without id.`);
  }
  return id;
}
