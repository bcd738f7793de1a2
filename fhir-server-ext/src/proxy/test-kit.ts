/**
 * Shared setup of the FHIR proxy tests: a loopback test issuer, fhir-server-ext on a free port against
 * the real HAPI FHIR and Redis, two patients with one Observation each, and request helpers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import type { Observation, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { loadConfig, waitFor, type MonitorMedConfig } from '@monitormed/common';
import Bull from 'bull';
import { loadSmartConfig } from '../auth/smart-config.js';
import { startTestIssuer, type SignOptions, type TestIssuer } from '../auth/test-issuer.js';
import { startFhirServerExt, type FhirServerExt, type FhirServerExtOptions } from '../server.js';
import { AUDIT_QUEUE } from './audit-queue.js';

/** A response of the proxy or of HAPI, with its body parsed. */
export interface FhirResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

/** Options of one request to the proxy. */
export interface ProxyCall {
  token?: string;
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** The running test setup. */
export interface ProxyTestKit {
  runId: string;
  config: MonitorMedConfig;
  queuePrefix: string;
  clientId: string;
  fhirUser: string;
  patientA: string;
  patientB: string;
  observationA: string;
  observationB: string;
  /** Code of every Observation the kit creates, unique to this run. */
  testCode: { system: string; code: string };
  issuer: TestIssuer;
  server: FhirServerExt;
  /** Public base URL of the proxy's FHIR endpoint. */
  endpoint: string;
  /** Signs a token for this run's user and client with the given extra claims. */
  sign(claims: Record<string, unknown>, options?: SignOptions): Promise<string>;
  /** Sends a request to the proxy; `path` is below the FHIR base. */
  callProxy<T = Resource>(path: string, init?: ProxyCall, baseUrl?: string): Promise<FhirResponse<T>>;
  /** Sends a request straight to HAPI, bypassing search caches. */
  callHapi<T = Resource>(path: string, method?: string, body?: unknown): Promise<T>;
  /** Runs HAPI's $validate and returns the messages of error and fatal issues. */
  validationErrors(resource: Resource): Promise<string[]>;
  /** Builds an Observation of this run for a patient. */
  observation(id: string | undefined, patientId: string): Observation;
  /** Starts another fhir-server-ext that trusts the same issuer; the caller closes it. */
  startServer(options: Partial<FhirServerExtOptions>): Promise<FhirServerExt>;
  close(): Promise<void>;
}

/** Joins the texts of an OperationOutcome's issues, for assertions on the message. */
export function issueText(outcome: OperationOutcome): string {
  return outcome.issue.map((issue) => issue.details?.text ?? issue.diagnostics ?? '').join(' ');
}

/** Returns a loopback port that nothing listens on: a free port, released again. */
export async function closedPort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => {
    probe.close(() => {
      resolve();
    });
  });
  return port;
}

/** Tells whether something accepts TCP connections on a loopback port. */
function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const connection = connect(port, '127.0.0.1', () => {
      connection.end();
      resolve(true);
    });
    connection.on('error', () => {
      resolve(false);
    });
  });
}

/** Starts a private redis-server on a free port, so a test can stop it without touching the shared one. */
export async function startPrivateRedis(): Promise<{ url: string; process: ChildProcess }> {
  const port = await closedPort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    }
  );
  await waitFor(
    `redis-server on port ${port}`,
    async () => ((await isListening(port)) ? true : undefined),
    10_000,
    100
  );
  return { url: `redis://127.0.0.1:${port}`, process: child };
}

/**
 * Starts the issuer and fhir-server-ext and writes the run's patients and Observations to HAPI.
 * @param name - Short name of the test file, used in ids and the Redis prefix.
 * @throws Error saying how to start HAPI when it is unreachable.
 */
export async function startProxyTestKit(name: string): Promise<ProxyTestKit> {
  const runId = randomUUID().slice(0, 8);
  const config = { ...loadConfig(), logLevel: process.env['LOG_LEVEL'] ?? 'warn' };
  const queuePrefix = `mmtest-${name}-${runId}`;
  const clientId = `test-client-${runId}`;
  const fhirUser = `Practitioner/test-${runId}`;
  const ids = {
    patientA: `mm-${name}-${runId}-a`,
    patientB: `mm-${name}-${runId}-b`,
    observationA: `mm-${name}-${runId}-oa`,
    observationB: `mm-${name}-${runId}-ob`,
  };
  const testCode = { system: 'https://monitormed.dev/fhir/CodeSystem/test', code: `${name}-${runId}` };

  const callHapi = async <T = Resource>(path: string, method = 'GET', body?: unknown): Promise<T> => {
    let response: Response;
    try {
      response = await fetch(`${config.fhirBaseUrl}/${path}`, {
        method,
        headers: {
          'content-type': 'application/fhir+json',
          accept: 'application/fhir+json',
          'cache-control': 'no-cache',
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new Error(
        `HAPI FHIR at ${config.fhirBaseUrl} is not reachable (${(err as Error).message}). Start it with peers/peers.sh start hapi.`
      );
    }
    return (await response.json()) as T;
  };

  const observation = (id: string | undefined, patientId: string): Observation => ({
    resourceType: 'Observation',
    ...(id === undefined ? {} : { id }),
    status: 'final',
    code: { coding: [testCode] },
    subject: { reference: `Patient/${patientId}` },
    valueQuantity: { value: 0.5, unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
  });

  for (const id of [ids.patientA, ids.patientB]) {
    await callHapi(`Patient/${id}`, 'PUT', { resourceType: 'Patient', id, active: true });
  }
  await callHapi(`Observation/${ids.observationA}`, 'PUT', observation(ids.observationA, ids.patientA));
  await callHapi(`Observation/${ids.observationB}`, 'PUT', observation(ids.observationB, ids.patientB));

  let endpoint = '';
  const issuer = await startTestIssuer(() => endpoint);
  const startServer = (options: Partial<FhirServerExtOptions>): Promise<FhirServerExt> =>
    startFhirServerExt({
      config,
      port: 0,
      skipSubscription: true,
      queuePrefix,
      // A 0 ms JWKS cooldown lets a test use a rotated key at once.
      smart: loadSmartConfig({ SMART_ISSUER: issuer.issuer, SMART_JWKS_COOLDOWN_MS: '0' }),
      ...options,
    });
  let server: FhirServerExt;
  try {
    server = await startServer({});
  } catch (err) {
    await issuer.close();
    throw err;
  }
  endpoint = server.fhirEndpointUrl;

  let closing: Promise<void> | undefined;
  return {
    runId,
    config,
    queuePrefix,
    clientId,
    fhirUser,
    ...ids,
    testCode,
    issuer,
    server,
    endpoint,
    sign: (claims, options) =>
      issuer.sign({ sub: 'user-1', client_id: clientId, fhirUser, ...claims }, options),
    async callProxy<T>(path: string, init: ProxyCall = {}, baseUrl = endpoint): Promise<FhirResponse<T>> {
      const response = await fetch(`${baseUrl}/${path}`, {
        method: init.method ?? 'GET',
        headers: {
          accept: 'application/fhir+json',
          ...(init.body === undefined ? {} : { 'content-type': 'application/fhir+json' }),
          ...(init.token === undefined ? {} : { authorization: `Bearer ${init.token}` }),
          ...init.headers,
        },
        ...(init.body === undefined
          ? {}
          : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
      });
      const text = await response.text();
      return {
        status: response.status,
        headers: response.headers,
        body: (text === '' ? undefined : JSON.parse(text)) as T,
      };
    },
    callHapi,
    async validationErrors(resource) {
      const outcome = await callHapi<OperationOutcome>(
        `${resource.resourceType}/$validate`,
        'POST',
        resource
      );
      return outcome.issue
        .filter((issue) => issue.severity === 'error' || issue.severity === 'fatal')
        .map((issue) => issue.diagnostics ?? issue.code);
    },
    observation,
    startServer,
    close() {
      closing ??= (async () => {
        const queue = new Bull(AUDIT_QUEUE, config.redisUrl, { prefix: queuePrefix });
        try {
          // Remove this run's audit jobs from Redis; the prefix is never used again.
          await queue.obliterate({ force: true });
        } finally {
          await queue.close();
          await server.close();
          await issuer.close();
        }
      })();
      return closing;
    },
  };
}
