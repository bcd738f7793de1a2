/**
 * Helpers of the CDS Hooks tests: a CDS client with jose-generated keys whose JWK Sets are served over
 * loopback HTTP, a running fhir-server-ext, and synthetic patients with AI results and Flags in HAPI.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import type { Bundle, Flag, Observation, OperationOutcome, Resource } from '@medplum/fhirtypes';
import {
  AIAST,
  AI_CONFIDENCE_EXTENSION,
  FLAG_CODES,
  buildModelDevice,
  modelDeviceQuery,
  loadConfig,
  loadModelCatalog,
  type MonitorMedConfig,
} from '@monitormed/common';
import {
  assessUncertainty,
  buildDriftExtension,
  buildMonitoringFlag,
  buildUncertaintyExtension,
  loadAnalyzerSettings,
} from '@monitormed/analyzers';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { startFhirServerExt, type FhirServerExt } from '../server.js';
import type { CdsHooksSettings } from './settings.js';

/** A CDS client: its issuer, signing key and the loopback server of its JWK Sets. */
export interface TestCdsClient {
  iss: string;
  kid: string;
  privateKey: CryptoKey;
  /** Key of another party, published at `otherJwksUrl` with the same kid. */
  otherPrivateKey: CryptoKey;
  jwksUrl: string;
  /** Same keys as `jwksUrl`, listed in the client's jkuUrls. */
  rotatedJwksUrl: string;
  /** The other party's key set, on no allow-list. */
  otherJwksUrl: string;
  close(): Promise<void>;
}

/**
 * Generates ES384 keys and serves `/jwks.json`, `/rotated-jwks.json` and `/other-jwks.json` on loopback.
 * @param runId - Makes the issuer unique.
 */
export async function startTestCdsClient(runId: string): Promise<TestCdsClient> {
  const kid = `test-key-${runId}`;
  const own = await generateKeyPair('ES384', { extractable: true });
  const other = await generateKeyPair('ES384', { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(own.publicKey)), kid, alg: 'ES384', use: 'sig' };
  const otherJwk: JWK = { ...(await exportJWK(other.publicKey)), kid, alg: 'ES384', use: 'sig' };

  const server: Server = createServer((req, res) => {
    const keys = req.url === '/other-jwks.json' ? [otherJwk] : [publicJwk];
    const known = ['/jwks.json', '/rotated-jwks.json', '/other-jwks.json'].includes(req.url ?? '');
    res.writeHead(known ? 200 : 404, { 'content-type': 'application/json' });
    res.end(known ? JSON.stringify({ keys }) : '{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  let closed = false;
  return {
    iss: `https://ehr.test/${runId}`,
    kid,
    privateKey: own.privateKey,
    otherPrivateKey: other.privateKey,
    jwksUrl: `${base}/jwks.json`,
    rotatedJwksUrl: `${base}/rotated-jwks.json`,
    otherJwksUrl: `${base}/other-jwks.json`,
    close: async () => {
      if (closed) {
        return;
      }
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}

/** Claims and header fields a test can change. */
export interface TokenOptions {
  aud: string;
  iss?: string;
  jti?: string;
  jku?: string;
  /** Seconds since the epoch. */
  iat?: number;
  exp?: number;
  key?: CryptoKey;
}

/**
 * Signs a CDS client JWT with ES384, as CDS Hooks 2.0 recommends.
 * @param client - The test client.
 * @param options - Audience and overrides.
 */
export async function signClientJwt(client: TestCdsClient, options: TokenOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: options.jti ?? randomUUID() })
    .setProtectedHeader({
      alg: 'ES384',
      typ: 'JWT',
      kid: client.kid,
      ...(options.jku === undefined ? {} : { jku: options.jku }),
    })
    .setIssuer(options.iss ?? client.iss)
    .setAudience(options.aud)
    .setIssuedAt(options.iat ?? now)
    .setExpirationTime(options.exp ?? now + 120)
    .sign(options.key ?? client.privateKey);
}

/** Test configuration: warn-level logs and a database of its own. */
export function testConfig(runId: string): MonitorMedConfig {
  return {
    ...loadConfig(),
    logLevel: process.env['LOG_LEVEL'] ?? 'warn',
    mongoDatabase: `monitormed_test_cds_${runId}`,
  };
}

/**
 * CDS Hooks settings that trust `client`, with `rotatedJwksUrl` on its jku allow-list.
 * @param config - Test configuration.
 * @param client - The test client.
 */
export function testSettings(config: MonitorMedConfig, client: TestCdsClient): CdsHooksSettings {
  return {
    clients: [{ iss: client.iss, jwksUrl: client.jwksUrl, jkuUrls: [client.rotatedJwksUrl] }],
    fhirServers: [config.fhirBaseUrl],
    serviceBaseUrl: undefined,
    smartLaunchUrl: 'http://127.0.0.1:8082/launch',
    jwtMaxAgeSeconds: 300,
    clockToleranceSeconds: 30,
    fetchTimeoutMs: 5_000,
  };
}

/**
 * Fails with a clear message when HAPI FHIR is unreachable, then starts fhir-server-ext on a free port.
 * @param config - Test configuration.
 * @param settings - CDS Hooks settings.
 * @param runId - Makes the queue prefix unique.
 */
export async function startTestServer(
  config: MonitorMedConfig,
  settings: CdsHooksSettings,
  runId: string
): Promise<FhirServerExt> {
  try {
    await fetch(`${config.fhirBaseUrl}/metadata`, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new Error(
      `HAPI FHIR at ${config.fhirBaseUrl} is not reachable (${(err as Error).message}). Start the peers with peers/peers.sh start all.`
    );
  }
  return startFhirServerExt({
    config,
    port: 0,
    skipSubscription: true,
    queuePrefix: `mmtest-cds-${runId}`,
    cdsHooksSettings: settings,
  });
}

/** The analyzers' default rule limits, which the synthetic results' uncertainty extensions record. */
const DEFAULT_SETTINGS = loadAnalyzerSettings({});
const DEFAULT_LIMITS = {
  entropyThresholdBits: DEFAULT_SETTINGS.uncertaintyThresholdBits,
  marginWidth: DEFAULT_SETTINGS.uncertaintyMarginWidth,
};

/** Ids of the synthetic data one test run creates. */
export interface CdsFixture {
  flaggedPatientId: string;
  cleanPatientId: string;
  deviceId: string;
  /** Result with both flags: expect a critical card. */
  driftingObservationId: string;
  /** Result with a high-uncertainty flag only: expect a warning card. */
  uncertainObservationId: string;
  flagIds: string[];
}

/**
 * Creates two synthetic patients in HAPI: one with two flagged AI results (one also has an inactive
 * Flag, which must not show), and one with an AI result but no Flag.
 * @param config - Test configuration.
 * @param runId - Makes identifiers unique.
 */
export async function createCdsFixture(config: MonitorMedConfig, runId: string): Promise<CdsFixture> {
  const [sepsis] = loadModelCatalog();
  if (sepsis === undefined) {
    throw new Error('The model catalog is empty.');
  }

  // The catalog Device is shared by every run (cards name the catalog model), so it is created only when
  // absent: a plain create would add a second Device with the model id, and the listener's conditional
  // writes then fail with HTTP 412.
  const device = await create(config, buildModelDevice(sepsis), modelDeviceQuery(sepsis.modelId));
  const flaggedPatient = await create(config, {
    resourceType: 'Patient',
    identifier: [{ system: 'https://monitormed.dev/fhir/sid/test-mrn', value: `cds-flagged-${runId}` }],
  });
  const cleanPatient = await create(config, {
    resourceType: 'Patient',
    identifier: [{ system: 'https://monitormed.dev/fhir/sid/test-mrn', value: `cds-clean-${runId}` }],
  });

  const result = (patientId: string, probability: number, effective: string): Observation => ({
    resourceType: 'Observation',
    meta: { security: [AIAST] },
    status: 'final',
    code: { coding: [sepsis.outputCode] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: effective,
    valueQuantity: { value: probability, unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
    device: { reference: `Device/${device}` },
    interpretation: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
            code: probability >= sepsis.positiveThreshold ? 'POS' : 'NEG',
          },
        ],
      },
    ],
    extension: [
      { url: AI_CONFIDENCE_EXTENSION, valueDecimal: Math.max(probability, 1 - probability) },
      buildUncertaintyExtension(assessUncertainty(probability, DEFAULT_LIMITS)),
      buildDriftExtension({
        statistic: 0.42,
        pValue: 0.0004,
        threshold: 0.01,
        window: effective.slice(0, 10),
        reference: { windows: ['2026-11-01', '2026-11-02', '2026-11-03'], n: 90 },
        detected: true,
      }),
    ],
  });

  const driftingObservation = await create(config, result(flaggedPatient, 0.51, '2026-11-30T08:00:00Z'));
  const uncertainObservation = await create(config, result(flaggedPatient, 0.49, '2026-11-29T08:00:00Z'));
  await create(config, result(cleanPatient, 0.5, '2026-11-30T09:00:00Z'));

  const flag = (
    observationId: string,
    effective: string,
    code: (typeof FLAG_CODES)[keyof typeof FLAG_CODES]
  ): Flag => buildMonitoringFlag({ observationId, patientId: flaggedPatient, effective }, code);
  const flagIds = [
    await create(config, flag(driftingObservation, '2026-11-30T08:00:00Z', FLAG_CODES.highUncertainty)),
    await create(config, flag(driftingObservation, '2026-11-30T08:00:00Z', FLAG_CODES.modelDrift)),
    await create(config, flag(uncertainObservation, '2026-11-29T08:00:00Z', FLAG_CODES.highUncertainty)),
  ];
  // A retired drift Flag on the uncertain result: it must not raise the card to critical.
  await create(config, {
    ...flag(uncertainObservation, '2026-11-29T08:00:00Z', FLAG_CODES.modelDrift),
    status: 'inactive',
  });

  return {
    flaggedPatientId: flaggedPatient,
    cleanPatientId: cleanPatient,
    deviceId: device,
    driftingObservationId: driftingObservation,
    uncertainObservationId: uncertainObservation,
    flagIds,
  };
}

async function create(config: MonitorMedConfig, resource: Resource, ifNoneExist?: string): Promise<string> {
  const response = await fetch(`${config.fhirBaseUrl}/${resource.resourceType}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/fhir+json',
      prefer: 'return=representation',
      ...(ifNoneExist === undefined ? {} : { 'if-none-exist': ifNoneExist }),
    },
    body: JSON.stringify(resource),
  });
  const created = (await response.json()) as Resource;
  if (!response.ok || created.id === undefined) {
    throw new Error(`Creating a ${resource.resourceType} in HAPI failed with HTTP ${response.status}.`);
  }
  return created.id;
}

/**
 * Runs a relative search against HAPI, as a CDS client does to fill a prefetch key.
 * @param config - Test configuration.
 * @param relativeUrl - Expanded prefetch template.
 */
export async function searchHapi(config: MonitorMedConfig, relativeUrl: string): Promise<Bundle> {
  // Without no-cache, HAPI returns an identical search's cached results for a minute, so a poll would
  // miss a new resource.
  const response = await fetch(`${config.fhirBaseUrl}/${relativeUrl}`, {
    headers: { accept: 'application/fhir+json', 'cache-control': 'no-cache' },
  });
  if (!response.ok) {
    throw new Error(`HAPI search ${relativeUrl} failed with HTTP ${response.status}.`);
  }
  return (await response.json()) as Bundle;
}

/** A loopback TCP proxy a test can cut, to take a peer away from one server only. */
export interface TcpProxy {
  port: number;
  /** Stops accepting and drops every open connection. */
  cut(): Promise<void>;
}

/**
 * Starts a TCP proxy on a free loopback port that forwards to `targetPort` on 127.0.0.1.
 * @param targetPort - Port of the peer, such as 27017 for FerretDB.
 */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const proxy = createNetServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));

  let cut: Promise<void> | undefined;
  return {
    port: (proxy.address() as AddressInfo).port,
    cut: () => {
      cut ??= new Promise<void>((resolve) => {
        proxy.close(() => {
          resolve();
        });
        for (const socket of sockets) {
          socket.destroy();
        }
      });
      return cut;
    },
  };
}

/** Validates a resource with HAPI's `$validate` and returns the texts of its errors. */
export async function validationErrors(config: MonitorMedConfig, resource: Resource): Promise<string[]> {
  const response = await fetch(`${config.fhirBaseUrl}/${resource.resourceType}/$validate`, {
    method: 'POST',
    headers: { accept: 'application/fhir+json', 'content-type': 'application/fhir+json' },
    body: JSON.stringify(resource),
  });
  const outcome = (await response.json()) as OperationOutcome;
  return outcome.issue
    .filter((issue) => issue.severity === 'error' || issue.severity === 'fatal')
    .map((issue) => issue.diagnostics ?? issue.code);
}
