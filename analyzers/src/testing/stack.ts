/**
 * Helpers of the analyzers' integration tests: peer checks with clear failures, a private Mongo database and
 * bull prefix per run, and synthetic FHIR data (Device, Patient, AI result Observation).
 */
import { randomUUID } from 'node:crypto';
import { createConnection } from 'node:net';
import type { Device, Observation, Patient } from '@medplum/fhirtypes';
import {
  AI_CONFIDENCE_EXTENSION,
  AIAST,
  buildModelDevice,
  connectMongo,
  createFhirClient,
  loadConfig,
  type AiModelDefinition,
  type FhirClient,
  type MonitorMedConfig,
} from '@monitormed/common';

/** Configuration and names private to one test run. */
export interface TestRun {
  /** Random suffix shared by every name of the run. */
  runId: string;
  /** The environment's configuration with a database `monitormed_test_<runId>`. */
  config: MonitorMedConfig;
  /** Bull prefix of the run. */
  queuePrefix: string;
  fhir: FhirClient;
}

/**
 * Creates the names of a test run.
 * @returns Config, prefix and FHIR client.
 */
export function createTestRun(): TestRun {
  const runId = randomUUID().slice(0, 8);
  const config = {
    ...loadConfig(),
    mongoDatabase: `monitormed_test_${runId}`,
    logLevel: process.env['LOG_LEVEL'] ?? 'warn',
  };
  return { runId, config, queuePrefix: `mmtest-${runId}`, fhir: createFhirClient(config) };
}

/**
 * Checks that HAPI FHIR, MongoDB (FerretDB) and Redis respond, so a test fails with a clear message when a
 * peer is down instead of timing out somewhere else.
 * @param config - Peer addresses.
 * @throws Error naming every peer that is down and how to start them.
 */
export async function requirePeers(config: MonitorMedConfig): Promise<void> {
  const problems: string[] = [];

  try {
    const response = await fetch(`${config.fhirBaseUrl}/metadata`, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) {
      problems.push(`HAPI FHIR at ${config.fhirBaseUrl} answered HTTP ${response.status}`);
    }
  } catch (err) {
    problems.push(`HAPI FHIR at ${config.fhirBaseUrl} is not reachable (${(err as Error).message})`);
  }

  try {
    const mongo = await connectMongo(config, 5_000);
    await mongo.db.command({ ping: 1 });
    await mongo.client.close();
  } catch (err) {
    problems.push(`MongoDB at ${config.mongoUrl} is not reachable (${(err as Error).message})`);
  }

  try {
    await pingTcp(new URL(config.redisUrl));
  } catch (err) {
    problems.push(`Redis at ${config.redisUrl} is not reachable (${(err as Error).message})`);
  }

  if (problems.length > 0) {
    throw new Error(
      `Integration test peers are down: ${problems.join('; ')}. Start them with peers/peers.sh start all.`
    );
  }
}

async function pingTcp(url: URL): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const socket = createConnection({ host: url.hostname, port: Number(url.port || 6379), timeout: 5_000 });
    socket.once('connect', () => {
      socket.end();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error('connection timed out'));
    });
    socket.once('error', reject);
  });
}

/**
 * Drops the run's Mongo database.
 * @param config - The run's configuration.
 */
export async function dropTestDatabase(config: MonitorMedConfig): Promise<void> {
  const mongo = await connectMongo(config, 5_000);
  try {
    await mongo.db.dropDatabase();
  } finally {
    await mongo.client.close();
  }
}

export { waitFor } from '@monitormed/common';

/**
 * Creates a synthetic AI model Device with a model id unique to the run.
 * @param run - The test run.
 * @returns Model id and Device id.
 */
export async function createTestModelDevice(run: TestRun): Promise<{ modelId: string; deviceId: string }> {
  const modelId = `test-model-${run.runId}`;
  const model: AiModelDefinition = {
    modelId,
    name: `Test model ${run.runId}`,
    version: '1.0.0',
    manufacturer: 'MonitorMed tests',
    kind: 'Machine-Learning-Models',
    intendedUse: 'Synthetic model for integration tests',
    match: {},
    outputCode: { system: 'https://monitormed.dev/fhir/CodeSystem/test', code: 'TEST-RISK' },
    positiveThreshold: 0.5,
  };
  const device = (await run.fhir.create({
    resourceType: 'Device',
    body: { ...buildModelDevice(model) },
  })) as unknown as Device;
  return { modelId, deviceId: device.id ?? '' };
}

/**
 * Creates a synthetic Patient.
 * @param run - The test run.
 * @returns The Patient id.
 */
export async function createTestPatient(run: TestRun): Promise<string> {
  const body: Patient = {
    resourceType: 'Patient',
    name: [{ family: 'Synthetic', given: [`Test${run.runId}`] }],
    gender: 'unknown',
  };
  const patient = (await run.fhir.create({
    resourceType: 'Patient',
    body: { ...body },
  })) as unknown as Patient;
  return patient.id ?? '';
}

/**
 * Builds an AI result Observation as the data contract describes it.
 * @returns The Observation without id.
 */
export function buildAiObservation(options: {
  deviceId: string;
  patientId: string;
  score: number;
  effective: string;
}): Observation {
  return {
    resourceType: 'Observation',
    meta: { security: [AIAST] },
    status: 'final',
    code: { coding: [{ system: 'https://monitormed.dev/fhir/CodeSystem/test', code: 'TEST-RISK' }] },
    subject: { reference: `Patient/${options.patientId}` },
    effectiveDateTime: options.effective,
    valueQuantity: { value: options.score, unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
    device: { reference: `Device/${options.deviceId}` },
    extension: [{ url: AI_CONFIDENCE_EXTENSION, valueDecimal: Math.max(options.score, 1 - options.score) }],
  };
}

/**
 * Creates an AI result Observation on the FHIR server.
 * @returns The stored Observation, with id and meta.versionId.
 */
export async function createAiObservation(
  run: TestRun,
  options: { deviceId: string; patientId: string; score: number; effective: string }
): Promise<Observation & { id: string }> {
  const body = buildAiObservation(options);
  const stored = (await run.fhir.create({
    resourceType: 'Observation',
    body: { ...body },
  })) as unknown as Observation;
  if (stored.id === undefined) {
    throw new Error('The FHIR server returned the created Observation without id.');
  }
  return { ...stored, id: stored.id };
}
