import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import {
  connectMongo,
  createFhirClient,
  loadConfig,
  loadModelCatalog,
  type AiModelDefinition,
  type FhirClient,
  type MongoHandle,
} from '@monitormed/common';

/** Thrown when a test peer is not reachable. */
export class PeerUnavailableError extends Error {
  constructor(peer: string, url: string, cause: unknown) {
    super(
      `${peer} is not reachable at ${url} (${cause instanceof Error ? cause.message : String(cause)}). Start the peers with: peers/peers.sh start all`
    );
    this.name = 'PeerUnavailableError';
  }
}

/**
 * Connects to the HAPI FHIR peer and checks that it responds.
 * @throws PeerUnavailableError when it does not respond.
 */
export async function requireFhir(): Promise<FhirClient> {
  const config = loadConfig();
  const client = createFhirClient(config);
  try {
    await client.capabilityStatement();
  } catch (err) {
    throw new PeerUnavailableError('HAPI FHIR', config.fhirBaseUrl, err);
  }
  return client;
}

/**
 * Connects to the FerretDB/MongoDB peer with a database unique to this test run.
 * @throws PeerUnavailableError when it cannot be reached.
 */
export async function requireMongo(): Promise<MongoHandle> {
  const config = loadConfig();
  const mongoDatabase = `monitormed_test_${randomBytes(4).toString('hex')}`;
  try {
    return await connectMongo({ mongoUrl: config.mongoUrl, mongoDatabase }, 5_000);
  } catch (err) {
    throw new PeerUnavailableError('MongoDB (FerretDB)', config.mongoUrl, err);
  }
}

/**
 * Connects to the FerretDB/MongoDB peer before the tests of the enclosing suite, with a database of
 * their own, and drops that database and disconnects after them.
 * @returns A function that returns the connection inside the suite's tests.
 */
export function useTestDatabase(): () => MongoHandle {
  let mongo: MongoHandle | undefined;

  before(async () => {
    mongo = await requireMongo();
  });

  after(async () => {
    await mongo?.db.dropDatabase();
    await mongo?.client.close();
  });

  return () => {
    if (mongo === undefined) {
      throw new Error('MongoDB is not connected: see the error of the suite setup above');
    }
    return mongo;
  };
}

/** Returns a random suffix for identifiers created by one test run. */
export function runSuffix(): string {
  return randomBytes(6).toString('hex').toUpperCase();
}

/**
 * Reads a fixture from `hl7-listener/test-fixtures` and fills its placeholders.
 * @param name - File name.
 * @param values - Replacements for `{{CONTROL_ID}}`, `{{PATIENT_ID}}`...
 */
export function loadFixture(name: string, values: Record<string, string>): string {
  const text = readFileSync(new URL(`../../test-fixtures/${name}`, import.meta.url), 'utf8');
  return text.replace(/\{\{([A-Z_]+)\}\}/g, (placeholder, key: string) => values[key] ?? placeholder);
}

/**
 * Copies the demo model catalog with model ids unique to one test run, so each run's conditional Device
 * creates match only its own Device in the shared FHIR server.
 * @param suffix - The run suffix, such as from {@link runSuffix}.
 */
export function runModels(suffix: string): AiModelDefinition[] {
  return loadModelCatalog().map((model) => ({
    ...model,
    modelId: `${model.modelId}-${suffix.toLowerCase()}`,
  }));
}
