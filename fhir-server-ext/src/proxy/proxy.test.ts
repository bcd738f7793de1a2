/**
 * The SMART-secured FHIR endpoint against the real HAPI FHIR and Redis peers, with tokens from a test
 * issuer whose JWKS is served over loopback: token checks, scope and compartment enforcement, the
 * Provenance of writes, the AuditEvent of reads, and the public discovery documents.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type {
  AuditEvent,
  Bundle,
  CapabilityStatement,
  Observation,
  OperationOutcome,
  Provenance,
  Resource,
} from '@medplum/fhirtypes';
import { loadConfig, waitFor } from '@monitormed/common';
import Bull from 'bull';
import { loadSmartConfig } from '../auth/smart-config.js';
import { startTestIssuer, type TestIssuer } from '../auth/test-issuer.js';
import { startFhirServerExt, type FhirServerExt } from '../server.js';
import { AUDIT_QUEUE } from './audit-queue.js';
import { CLIENT_ID_SYSTEM, USER_ID_SYSTEM } from './records.js';

const runId = randomUUID().slice(0, 8);
const config = { ...loadConfig(), logLevel: process.env['LOG_LEVEL'] ?? 'warn' };
const queuePrefix = `mmtest-proxy-${runId}`;
const clientId = `test-client-${runId}`;
const fhirUser = `Practitioner/test-${runId}`;
const patientA = `mm-proxy-${runId}-a`;
const patientB = `mm-proxy-${runId}-b`;
const observationA = `mm-proxy-${runId}-oa`;
const observationB = `mm-proxy-${runId}-ob`;
const testCode = { system: 'https://monitormed.dev/fhir/CodeSystem/test', code: `proxy-${runId}` };

let issuer: TestIssuer | undefined;
let server: FhirServerExt | undefined;

function endpoint(): string {
  if (server === undefined) {
    throw new Error('fhir-server-ext did not start; see the before hook error.');
  }
  return server.fhirEndpointUrl;
}

async function sign(
  claims: Record<string, unknown>,
  options: Parameters<TestIssuer['sign']>[1] = {}
): Promise<string> {
  if (issuer === undefined) {
    throw new Error('The test issuer did not start; see the before hook error.');
  }
  return issuer.sign({ sub: 'user-1', client_id: clientId, fhirUser, ...claims }, options);
}

interface FhirResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

async function callProxy<T = Resource>(
  path: string,
  init: { token?: string; method?: string; body?: unknown; headers?: Record<string, string> } = {}
): Promise<FhirResponse<T>> {
  const response = await fetch(`${endpoint()}/${path}`, {
    method: init.method ?? 'GET',
    headers: {
      accept: 'application/fhir+json',
      ...(init.body === undefined ? {} : { 'content-type': 'application/fhir+json' }),
      ...(init.token === undefined ? {} : { authorization: `Bearer ${init.token}` }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: (text === '' ? undefined : JSON.parse(text)) as T,
  };
}

async function callHapi<T = Resource>(path: string, method = 'GET', body?: unknown): Promise<T> {
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
}

/** Runs HAPI's $validate and returns the error and fatal messages. */
async function validationErrors(resource: Resource): Promise<string[]> {
  const outcome = await callHapi<OperationOutcome>(`${resource.resourceType}/$validate`, 'POST', resource);
  return outcome.issue
    .filter((issue) => issue.severity === 'error' || issue.severity === 'fatal')
    .map((issue) => issue.diagnostics ?? issue.code);
}

function observation(id: string, patientId: string): Observation {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [testCode] },
    subject: { reference: `Patient/${patientId}` },
    valueQuantity: { value: 0.5, unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
  };
}

/** Returns a loopback port that nothing listens on: a free port, released again. */
async function closedPort(): Promise<number> {
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

function issueText(outcome: OperationOutcome): string {
  return outcome.issue.map((issue) => issue.details?.text ?? issue.diagnostics ?? '').join(' ');
}

void describe('FHIR proxy', () => {
  before(async () => {
    issuer = await startTestIssuer(() => endpoint());
    for (const id of [patientA, patientB]) {
      await callHapi(`Patient/${id}`, 'PUT', { resourceType: 'Patient', id, active: true });
    }
    await callHapi(`Observation/${observationA}`, 'PUT', observation(observationA, patientA));
    await callHapi(`Observation/${observationB}`, 'PUT', observation(observationB, patientB));

    server = await startFhirServerExt({
      config,
      port: 0,
      skipSubscription: true,
      queuePrefix,
      // jwksUrl stays unset, so the verifier discovers it from the issuer; a 0 ms cooldown lets the key
      // rotation test fetch the JWKS again at once.
      smart: loadSmartConfig({ SMART_ISSUER: issuer.issuer, SMART_JWKS_COOLDOWN_MS: '0' }),
    });
  });

  after(async () => {
    const queue = new Bull(AUDIT_QUEUE, config.redisUrl, { prefix: queuePrefix });
    await queue.obliterate({ force: true });
    await queue.close();
    await server?.close();
    await issuer?.close();
  });

  void it('valid token reads Observations', async () => {
    const token = await sign({ scope: 'openid fhirUser user/Observation.rs' });
    const result = await callProxy<Bundle<Observation>>(`Observation?subject=Patient/${patientA}`, { token });

    assert.equal(result.status, 200);
    assert.deepEqual(
      result.body.entry?.map((entry) => entry.resource?.id),
      [observationA]
    );
    for (const link of result.body.link ?? []) {
      assert.ok(link.url.startsWith(endpoint()), `Bundle link ${link.url} does not start with ${endpoint()}`);
    }
    const fullUrl = result.body.entry[0]?.fullUrl ?? '';
    assert.ok(
      fullUrl.startsWith(`${endpoint()}/Observation/`),
      `fullUrl ${fullUrl} is not under ${endpoint()}`
    );
  });

  void it('invalid tokens get 401', async () => {
    const scope = 'user/Observation.rs';
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const nowS = Math.floor(Date.now() / 1000);
    const payload = Buffer.from(
      JSON.stringify({ iss: issuer?.issuer, aud: endpoint(), exp: nowS + 300, scope })
    ).toString('base64url');
    const cases: [string, string | undefined, RegExp][] = [
      ['missing', undefined, /Missing Authorization header/],
      ['expired', await sign({ scope }, { expiresInS: -600 }), /expired/],
      ['not yet valid', await sign({ scope }, { notBeforeS: 600 }), /not valid yet/],
      ['wrong audience', await sign({ scope }, { audience: 'http://127.0.0.1:1/fhir' }), /audience/],
      ['wrong issuer', await sign({ scope }, { issuer: 'http://127.0.0.1:1' }), /issuer/],
      ['bad signature', await sign({ scope }, { foreignKey: true }), /signature is invalid/],
      ['alg none', `${header}.${payload}.`, /algorithm is not allowed/],
      ['not a JWT', 'abc', /not a valid signed JWT/],
    ];

    for (const [name, token, expected] of cases) {
      const result = await callProxy<OperationOutcome>(
        `Observation/${observationA}`,
        token === undefined ? {} : { token }
      );
      assert.equal(result.status, 401, `${name}: status`);
      assert.match(result.headers.get('www-authenticate') ?? '', /^Bearer /, `${name}: WWW-Authenticate`);
      assert.equal(result.body.resourceType, 'OperationOutcome', `${name}: body`);
      assert.equal(result.body.issue[0]?.code, 'login', `${name}: issue code`);
      assert.match(issueText(result.body), expected, `${name}: message`);
    }
  });

  void it('rotated signing key is accepted', async () => {
    await issuer?.rotate();
    const token = await sign({ scope: 'user/Observation.rs' });
    const result = await callProxy(`Observation/${observationA}`, { token });
    assert.equal(result.status, 200);
  });

  void it('patient token cannot read another patient', async () => {
    const token = await sign({ scope: 'launch/patient patient/Observation.rs', patient: patientA });

    const own = await callProxy(`Observation/${observationA}`, { token });
    assert.equal(own.status, 200);

    const other = await callProxy<OperationOutcome>(`Observation/${observationB}`, { token });
    assert.equal(other.status, 403);
    assert.equal(other.body.issue[0]?.code, 'forbidden');
    assert.match(issueText(other.body), new RegExp(`compartment of Patient/${patientA}`));
  });

  void it('patient token search returns its patient only', async () => {
    const token = await sign({ scope: 'patient/Observation.rs', patient: patientA });

    const byCode = await callProxy<Bundle<Observation>>(
      `Observation?code=${testCode.system}|${testCode.code}`,
      { token }
    );
    assert.equal(byCode.status, 200);
    assert.deepEqual(
      byCode.body.entry?.map((entry) => entry.resource?.id),
      [observationA]
    );

    const otherPatient = await callProxy<Bundle>(`Observation?subject=Patient/${patientB}`, { token });
    assert.equal(otherPatient.status, 200);
    assert.equal(otherPatient.body.entry?.length ?? 0, 0);
  });

  void it('read scope cannot create', async () => {
    const token = await sign({ scope: 'user/Observation.rs' });
    const result = await callProxy<OperationOutcome>('Observation', {
      token,
      method: 'POST',
      body: { ...observation('unused', patientA), id: undefined },
    });
    assert.equal(result.status, 403);
    assert.match(issueText(result.body), /user\/Observation\.c/);
  });

  void it('create lands with a Provenance', async () => {
    const token = await sign({ scope: 'user/Observation.cruds' });
    const body = { ...observation('unused', patientA), id: undefined };
    const created = await callProxy<Observation>('Observation', { token, method: 'POST', body });

    assert.equal(created.status, 201);
    const id = created.body.id ?? '';
    assert.match(
      created.headers.get('location') ?? '',
      new RegExp(`^${endpoint()}/Observation/${id}/_history/1$`)
    );
    assert.equal(created.headers.get('etag'), 'W/"1"');

    const provenances = await callHapi<Bundle<Provenance>>(`Provenance?target=Observation/${id}`);
    assert.equal(provenances.entry?.length, 1);
    const provenance = provenances.entry[0]?.resource;
    assert.ok(provenance !== undefined, `no Provenance targets Observation/${id}`);
    assert.equal(provenance.activity?.coding?.[0]?.code, 'CREATE');
    assert.deepEqual(
      provenance.agent.map((agent) => agent.who.identifier),
      [
        { system: USER_ID_SYSTEM, value: fhirUser },
        { system: CLIENT_ID_SYSTEM, value: clientId },
      ]
    );
    assert.deepEqual(await validationErrors(provenance), []);
  });

  void it('delete lands with a Provenance', async () => {
    const token = await sign({ scope: 'user/Observation.cruds' });
    const id = `mm-proxy-${runId}-del`;
    await callHapi(`Observation/${id}`, 'PUT', observation(id, patientB));

    const deleted = await callProxy(`Observation/${id}`, { token, method: 'DELETE' });
    assert.equal(deleted.status, 200);
    const provenances = await callHapi<Bundle<Provenance>>(`Provenance?target=Observation/${id}`);
    assert.equal(provenances.entry?.[0]?.resource?.activity?.coding?.[0]?.code, 'DELETE');
  });

  void it('read writes an AuditEvent', async () => {
    const token = await sign({ scope: 'patient/Observation.rs', patient: patientA });
    const read = await callProxy(`Observation/${observationA}`, { token });
    assert.equal(read.status, 200);

    const event = await waitFor(
      'the AuditEvent of the read',
      async () => {
        const bundle = await callHapi<Bundle<AuditEvent>>(
          `AuditEvent?entity=Observation/${observationA}&subtype=read`
        );
        return bundle.entry
          ?.map((entry) => entry.resource)
          .find((candidate) => candidate?.agent.some((agent) => agent.who?.identifier?.value === clientId));
      },
      20_000
    );
    assert.equal(event.action, 'R');
    assert.equal(event.type.code, 'rest');
    assert.deepEqual(
      event.entity?.map((entity) => entity.what?.reference),
      [`Patient/${patientA}`, `Observation/${observationA}/_history/1`]
    );
    assert.deepEqual(await validationErrors(event), []);
  });

  void it('metadata advertises SMART security', async () => {
    const result = await callProxy<CapabilityStatement>('metadata');
    assert.equal(result.status, 200);
    assert.equal(result.body.implementation?.url, endpoint());

    const security = result.body.rest?.[0]?.security;
    assert.ok(security !== undefined, 'rest[0].security is missing');
    assert.equal(security.service?.[0]?.coding?.[0]?.code, 'SMART-on-FHIR');
    const oauth = security.extension?.find(
      (extension) => extension.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris'
    );
    assert.deepEqual(
      oauth?.extension?.map((extension) => [extension.url, extension.valueUri]),
      [
        ['authorize', `${issuer?.issuer ?? ''}/authorize`],
        ['token', `${issuer?.issuer ?? ''}/token`],
      ]
    );
    const observationType = result.body.rest?.[0]?.resource?.find(
      (resource) => resource.type === 'Observation'
    );
    assert.equal(observationType?.conditionalDelete, 'not-supported');
  });

  void it('smart-configuration lists issuer and endpoints', async () => {
    const result = await callProxy<Record<string, unknown>>('.well-known/smart-configuration');
    assert.equal(result.status, 200);
    assert.equal(result.body['issuer'], issuer?.issuer);
    assert.equal(result.body['jwks_uri'], issuer?.jwksUrl);
    assert.equal(result.body['authorization_endpoint'], `${issuer?.issuer ?? ''}/authorize`);
    assert.equal(result.body['token_endpoint'], `${issuer?.issuer ?? ''}/token`);
    assert.deepEqual(result.body['code_challenge_methods_supported'], ['S256']);
    assert.deepEqual(result.body['grant_types_supported'], ['authorization_code', 'refresh_token']);
    const capabilities = result.body['capabilities'] as string[];
    for (const capability of [
      'launch-ehr',
      'launch-standalone',
      'client-public',
      'permission-v2',
      'sso-openid-connect',
    ]) {
      assert.ok(capabilities.includes(capability), `capabilities lacks ${capability}`);
    }
  });

  void it('unreachable FHIR server gets 502', async () => {
    const offline = await startFhirServerExt({
      config: { ...config, fhirBaseUrl: `http://127.0.0.1:${await closedPort()}/fhir` },
      port: 0,
      skipSubscription: true,
      queuePrefix,
      auditWorker: false,
      smart: loadSmartConfig({ SMART_ISSUER: issuer?.issuer, SMART_JWKS_URL: issuer?.jwksUrl }),
    });
    try {
      const token = await sign({ scope: 'user/Observation.rs' }, { audience: offline.fhirEndpointUrl });
      const response = await fetch(`${offline.fhirEndpointUrl}/Observation/1`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(response.status, 502);
      const outcome = (await response.json()) as OperationOutcome;
      assert.match(issueText(outcome), /FHIR_BASE_URL/);
    } finally {
      await offline.close();
    }
  });
});
