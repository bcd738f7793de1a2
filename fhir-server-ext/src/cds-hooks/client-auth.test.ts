/**
 * CDS client JWT checks on the running service (CDS Hooks 2.0 "Trusting CDS Clients"), with a jose key
 * pair whose JWK Sets are served over loopback HTTP and the jti replay store in the real Redis.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SignJWT, base64url } from 'jose';
import type { FhirServerExt } from '../server.js';
import { AI_FLAGS_SERVICE_ID } from './service-definition.js';
import {
  signClientJwt,
  startTestCdsClient,
  startTestServer,
  testConfig,
  testSettings,
  type TestCdsClient,
} from './test-support.js';

const runId = randomUUID().slice(0, 8);
const config = testConfig(runId);
/** An issuer whose key set URL is a closed loopback port. */
const unreachableIss = `https://unreachable-ehr.test/${runId}`;

let client: TestCdsClient | undefined;
let server: FhirServerExt | undefined;

function requireClient(): TestCdsClient {
  if (client === undefined) {
    throw new Error('The test CDS client did not start; see the before hook error.');
  }
  return client;
}

function endpoint(suffix = ''): string {
  if (server === undefined) {
    throw new Error('fhir-server-ext did not start; see the before hook error.');
  }
  return `http://127.0.0.1:${server.port}/cds-services/${AI_FLAGS_SERVICE_ID}${suffix}`;
}

/** A request that needs no FHIR data, because its prefetch is null for both keys (no AI results, no Flags). */
function emptyPatientView(): string {
  return JSON.stringify({
    hook: 'patient-view',
    hookInstance: randomUUID(),
    context: { userId: 'Practitioner/test-clinician', patientId: `no-data-${runId}` },
    prefetch: { aiResults: null, monitoringFlags: null },
  });
}

async function callWith(authorization: string | undefined): Promise<Response> {
  return fetch(endpoint(), {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(authorization === undefined ? {} : { authorization }),
    },
    body: emptyPatientView(),
  });
}

async function assertRejected(response: Response, status: number, reason: RegExp): Promise<void> {
  const text = await response.text();
  assert.equal(response.status, status, text);
  const outcome = JSON.parse(text) as {
    resourceType: string;
    issue: { diagnostics?: string; details?: { text?: string } }[];
  };
  assert.equal(outcome.resourceType, 'OperationOutcome');
  const message = outcome.issue[0]?.diagnostics ?? outcome.issue[0]?.details?.text ?? '';
  assert.match(message, reason);
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

void describe('CDS client JWT', () => {
  before(async () => {
    client = await startTestCdsClient(runId);
    const settings = testSettings(config, client);
    settings.clients.push({ iss: unreachableIss, jwksUrl: 'http://127.0.0.1:9/jwks.json', jkuUrls: [] });
    server = await startTestServer(config, settings, runId);
  });

  after(async () => {
    await server?.close();
    await client?.close();
  });

  void it('signed JWT is accepted', async () => {
    const token = await signClientJwt(requireClient(), { aud: endpoint() });
    const response = await callWith(`Bearer ${token}`);
    assert.equal(response.status, 200, await response.clone().text());
    assert.deepEqual(await response.json(), { cards: [] });
  });

  void it('jku on the allow-list is accepted', async () => {
    const test = requireClient();
    const token = await signClientJwt(test, { aud: endpoint(), jku: test.rotatedJwksUrl });
    const response = await callWith(`Bearer ${token}`);
    assert.equal(response.status, 200, await response.clone().text());
  });

  void it('missing Authorization gets 401', async () => {
    const response = await callWith(undefined);
    assert.equal(response.headers.get('www-authenticate'), 'Bearer');
    await assertRejected(response, 401, /Missing Authorization header/);
  });

  void it('unsigned JWT gets 401', async () => {
    const token = await signClientJwt(requireClient(), { aud: endpoint() });
    const [header, payload] = token.split('.');
    await assertRejected(
      await callWith(`Bearer ${header ?? ''}.${payload ?? ''}.`),
      401,
      /signature part is empty/
    );
  });

  void it('alg none gets 401', async () => {
    const test = requireClient();
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT', kid: test.kid }));
    const payload = base64url.encode(
      JSON.stringify({ iss: test.iss, aud: endpoint(), iat: now(), exp: now() + 60, jti: randomUUID() })
    );
    await assertRejected(await callWith(`Bearer ${header}.${payload}.`), 401, /alg "none" is not allowed/);
  });

  void it('HMAC-signed JWT gets 401', async () => {
    const test = requireClient();
    const token = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: test.kid })
      .setIssuer(test.iss)
      .setAudience(endpoint())
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(new TextEncoder().encode('a shared secret the spec forbids'));
    await assertRejected(await callWith(`Bearer ${token}`), 401, /alg "HS256" is not allowed/);
  });

  void it('expired JWT gets 401', async () => {
    const token = await signClientJwt(requireClient(), {
      aud: endpoint(),
      iat: now() - 200,
      exp: now() - 100,
    });
    await assertRejected(await callWith(`Bearer ${token}`), 401, /JWT expired/);
  });

  void it('too old iat gets 401', async () => {
    const token = await signClientJwt(requireClient(), {
      aud: endpoint(),
      iat: now() - 3_600,
      exp: now() + 60,
    });
    await assertRejected(await callWith(`Bearer ${token}`), 401, /"iat"/);
  });

  void it('wrong aud gets 401', async () => {
    const token = await signClientJwt(requireClient(), {
      aud: 'https://other-cds.example.org/cds-services/x',
    });
    await assertRejected(
      await callWith(`Bearer ${token}`),
      401,
      /"aud" must be the endpoint URL being called/
    );
  });

  void it('discovery URL as aud gets 401', async () => {
    // The spec wants the URL of the service being called, not of discovery.
    const discoveryUrl = endpoint().replace(`/${AI_FLAGS_SERVICE_ID}`, '');
    const token = await signClientJwt(requireClient(), { aud: discoveryUrl });
    await assertRejected(await callWith(`Bearer ${token}`), 401, /"aud"/);
  });

  void it('unknown iss gets 401', async () => {
    const token = await signClientJwt(requireClient(), { aud: endpoint(), iss: 'https://unknown-ehr.test/' });
    await assertRejected(await callWith(`Bearer ${token}`), 401, /Unknown JWT issuer/);
  });

  void it('jku off the allow-list gets 401', async () => {
    const test = requireClient();
    // The other party's key set would verify its own token; the allow-list must stop it first.
    const token = await signClientJwt(test, {
      aud: endpoint(),
      jku: test.otherJwksUrl,
      key: test.otherPrivateKey,
    });
    await assertRejected(await callWith(`Bearer ${token}`), 401, /not on the allow-list/);
  });

  void it('wrong signing key gets 401', async () => {
    const test = requireClient();
    const token = await signClientJwt(test, { aud: endpoint(), key: test.otherPrivateKey });
    await assertRejected(await callWith(`Bearer ${token}`), 401, /signature does not verify/);
  });

  void it('replayed jti gets 401', async () => {
    const test = requireClient();
    const jti = randomUUID();
    const first = await callWith(`Bearer ${await signClientJwt(test, { aud: endpoint(), jti })}`);
    assert.equal(first.status, 200, await first.clone().text());

    // A new token with the same jti is a replay as much as the same token sent twice.
    const again = await signClientJwt(test, { aud: endpoint(), jti });
    await assertRejected(await callWith(`Bearer ${again}`), 401, /replayed/);
  });

  void it('unreachable key set gets 503', async () => {
    const token = await signClientJwt(requireClient(), { aud: endpoint(), iss: unreachableIss });
    await assertRejected(await callWith(`Bearer ${token}`), 503, /could not be loaded/);
  });

  void it('feedback requires a JWT', async () => {
    const response = await fetch(endpoint('/feedback'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ feedback: [] }),
    });
    await assertRejected(response, 401, /Missing Authorization header/);
  });

  void it('discovery needs no JWT', async () => {
    const response = await fetch(endpoint().replace(`/${AI_FLAGS_SERVICE_ID}`, ''));
    assert.equal(response.status, 200);
  });
});
