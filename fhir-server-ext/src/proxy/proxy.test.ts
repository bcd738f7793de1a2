/**
 * Reads through the SMART-secured FHIR endpoint, against the real HAPI FHIR and Redis peers with tokens
 * from a loopback test issuer. Covered: token checks, scope and compartment enforcement on reads and
 * searches, the AuditEvent of a read, and the public discovery documents.
 */
import assert from 'node:assert/strict';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type {
  AuditEvent,
  Bundle,
  CapabilityStatement,
  Observation,
  OperationOutcome,
} from '@medplum/fhirtypes';
import { waitFor } from '@monitormed/common';
import { loadSmartConfig } from '../auth/smart-config.js';
import { closedPort, issueText, startProxyTestKit, type ProxyTestKit } from './test-kit.js';

let kit: ProxyTestKit | undefined;

/** Returns the running kit; throws when the before hook failed, whose error gives the reason. */
function started(): ProxyTestKit {
  if (kit === undefined) {
    throw new Error('The test setup did not start; see the before hook error.');
  }
  return kit;
}

void describe('FHIR proxy reads', () => {
  before(async () => {
    kit = await startProxyTestKit('proxy');
  });

  after(async () => {
    await kit?.close();
  });

  void it('valid token reads Observations', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'openid fhirUser user/Observation.rs' });
    const result = await setup.callProxy<Bundle<Observation>>(
      `Observation?subject=Patient/${setup.patientA}`,
      { token }
    );

    assert.equal(result.status, 200);
    assert.deepEqual(
      result.body.entry?.map((entry) => entry.resource?.id),
      [setup.observationA]
    );
    for (const link of result.body.link ?? []) {
      assert.ok(
        link.url.startsWith(setup.endpoint),
        `Bundle link ${link.url} does not start with ${setup.endpoint}`
      );
    }
    const fullUrl = result.body.entry[0]?.fullUrl ?? '';
    assert.ok(
      fullUrl.startsWith(`${setup.endpoint}/Observation/`),
      `fullUrl ${fullUrl} is not under ${setup.endpoint}`
    );
  });

  void it('invalid tokens get 401', async () => {
    const setup = started();
    const scope = 'user/Observation.rs';
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const nowS = Math.floor(Date.now() / 1000);
    const payload = Buffer.from(
      JSON.stringify({ iss: setup.issuer.issuer, aud: setup.endpoint, exp: nowS + 300, scope })
    ).toString('base64url');
    const cases: [string, string | undefined, RegExp][] = [
      ['missing', undefined, /Missing Authorization header/],
      ['expired', await setup.sign({ scope }, { expiresInS: -600 }), /expired/],
      ['not yet valid', await setup.sign({ scope }, { notBeforeS: 600 }), /not valid yet/],
      ['wrong audience', await setup.sign({ scope }, { audience: 'http://127.0.0.1:1/fhir' }), /audience/],
      ['wrong issuer', await setup.sign({ scope }, { issuer: 'http://127.0.0.1:1' }), /issuer/],
      ['bad signature', await setup.sign({ scope }, { foreignKey: true }), /signature is invalid/],
      ['alg none', `${header}.${payload}.`, /algorithm is not allowed/],
      ['not a JWT', 'abc', /not a valid signed JWT/],
    ];

    for (const [name, token, expected] of cases) {
      const result = await setup.callProxy<OperationOutcome>(
        `Observation/${setup.observationA}`,
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
    const setup = started();
    await setup.issuer.rotate();
    const token = await setup.sign({ scope: 'user/Observation.rs' });
    const result = await setup.callProxy(`Observation/${setup.observationA}`, { token });
    assert.equal(result.status, 200);
  });

  void it('patient token cannot read another patient', async () => {
    const setup = started();
    const token = await setup.sign({
      scope: 'launch/patient patient/Observation.rs',
      patient: setup.patientA,
    });

    const own = await setup.callProxy(`Observation/${setup.observationA}`, { token });
    assert.equal(own.status, 200);

    const other = await setup.callProxy<OperationOutcome>(`Observation/${setup.observationB}`, { token });
    assert.equal(other.status, 403);
    assert.equal(other.body.issue[0]?.code, 'forbidden');
    assert.match(issueText(other.body), new RegExp(`compartment of Patient/${setup.patientA}`));
  });

  void it('patient token search returns its patient only', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'patient/Observation.rs', patient: setup.patientA });

    const byCode = await setup.callProxy<Bundle<Observation>>(
      `Observation?code=${setup.testCode.system}|${setup.testCode.code}`,
      { token }
    );
    assert.equal(byCode.status, 200);
    assert.deepEqual(
      byCode.body.entry?.map((entry) => entry.resource?.id),
      [setup.observationA]
    );

    const otherPatient = await setup.callProxy<Bundle>(`Observation?subject=Patient/${setup.patientB}`, {
      token,
    });
    assert.equal(otherPatient.status, 200);
    assert.equal(otherPatient.body.entry?.length ?? 0, 0);
  });

  void it('read writes an AuditEvent', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'patient/Observation.rs', patient: setup.patientA });
    const read = await setup.callProxy(`Observation/${setup.observationA}`, { token });
    assert.equal(read.status, 200);

    const event = await waitFor(
      'the AuditEvent of the read',
      async () => {
        const setup = started();
        const bundle = await setup.callHapi<Bundle<AuditEvent>>(
          `AuditEvent?entity=Observation/${setup.observationA}&subtype=read`
        );
        return bundle.entry
          ?.map((entry) => entry.resource)
          .find((candidate) =>
            candidate?.agent.some((agent) => agent.who?.identifier?.value === setup.clientId)
          );
      },
      20_000
    );
    assert.equal(event.action, 'R');
    assert.equal(event.type.code, 'rest');
    assert.deepEqual(
      event.entity?.map((entity) => entity.what?.reference),
      [`Patient/${setup.patientA}`, `Observation/${setup.observationA}/_history/1`]
    );
    assert.deepEqual(await setup.validationErrors(event), []);
  });

  void it('metadata advertises SMART security', async () => {
    const setup = started();
    const result = await setup.callProxy<CapabilityStatement>('metadata');
    assert.equal(result.status, 200);
    assert.equal(result.body.implementation?.url, setup.endpoint);

    const security = result.body.rest?.[0]?.security;
    assert.ok(security !== undefined, 'rest[0].security is missing');
    assert.equal(security.service?.[0]?.coding?.[0]?.code, 'SMART-on-FHIR');
    const oauth = security.extension?.find(
      (extension) => extension.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris'
    );
    assert.deepEqual(
      oauth?.extension?.map((extension) => [extension.url, extension.valueUri]),
      [
        ['authorize', `${setup.issuer.issuer}/authorize`],
        ['token', `${setup.issuer.issuer}/token`],
      ]
    );
    const observationType = result.body.rest?.[0]?.resource?.find(
      (resource) => resource.type === 'Observation'
    );
    assert.equal(observationType?.conditionalDelete, 'not-supported');
  });

  void it('smart-configuration lists issuer and endpoints', async () => {
    const setup = started();
    const result = await setup.callProxy<Record<string, unknown>>('.well-known/smart-configuration');
    assert.equal(result.status, 200);
    assert.equal(result.body['issuer'], setup.issuer.issuer);
    assert.equal(result.body['jwks_uri'], setup.issuer.jwksUrl);
    assert.equal(result.body['authorization_endpoint'], `${setup.issuer.issuer}/authorize`);
    assert.equal(result.body['token_endpoint'], `${setup.issuer.issuer}/token`);
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
    const setup = started();
    // An explicit SMART_JWKS_URL skips discovery, which the other tests cover.
    const offline = await setup.startServer({
      config: { ...setup.config, fhirBaseUrl: `http://127.0.0.1:${await closedPort()}/fhir` },
      auditWorker: false,
      smart: loadSmartConfig({ SMART_ISSUER: setup.issuer.issuer, SMART_JWKS_URL: setup.issuer.jwksUrl }),
    });
    try {
      const token = await setup.sign({ scope: 'user/Observation.rs' }, { audience: offline.fhirEndpointUrl });
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

  void it('search pages through the proxy', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'user/Observation.rs' });
    const code = `${setup.testCode.system}|${setup.testCode.code}`;

    const first = await setup.callProxy<Bundle<Observation>>(`Observation?code=${code}&_count=1`, { token });
    assert.equal(first.status, 200);
    assert.equal(first.body.entry?.length, 1);
    const next = first.body.link?.find((link) => link.relation === 'next')?.url ?? '';
    assert.ok(next.startsWith(`${setup.endpoint}?`), `next link ${next} is not under ${setup.endpoint}`);

    const second = await setup.callProxy<Bundle<Observation>>(next.slice(setup.endpoint.length), {
      token,
    });
    assert.equal(second.status, 200);
    const ids = [first.body.entry[0]?.resource?.id, second.body.entry?.[0]?.resource?.id].sort();
    assert.deepEqual(ids, [setup.observationA, setup.observationB].sort());
  });

  void it('POST search is limited to the patient', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'patient/Observation.rs', patient: setup.patientA });
    const result = await setup.callProxy<Bundle<Observation>>('Observation/_search', {
      token,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ code: `${setup.testCode.system}|${setup.testCode.code}` }).toString(),
    });

    assert.equal(result.status, 200);
    assert.deepEqual(
      result.body.entry?.map((entry) => entry.resource?.id),
      [setup.observationA]
    );
  });

  void it('granular scope limits search and read', async () => {
    const setup = started();
    const token = await setup.sign({ scope: `user/Observation.rs?subject=Patient/${setup.patientA}` });

    const search = await setup.callProxy<Bundle<Observation>>(
      `Observation?code=${setup.testCode.system}|${setup.testCode.code}`,
      { token }
    );
    assert.equal(search.status, 200);
    assert.deepEqual(
      search.body.entry?.map((entry) => entry.resource?.id),
      [setup.observationA]
    );

    const allowed = await setup.callProxy(`Observation/${setup.observationA}`, { token });
    assert.equal(allowed.status, 200);
    const denied = await setup.callProxy<OperationOutcome>(`Observation/${setup.observationB}`, { token });
    assert.equal(denied.status, 403);
    assert.match(issueText(denied.body), /granular scopes/);
  });

  void it('XML and unknown paths are rejected', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'user/*.rs' });

    const xml = await setup.callProxy<OperationOutcome>(`Observation/${setup.observationA}`, {
      token,
      headers: { accept: 'application/fhir+xml' },
    });
    assert.equal(xml.status, 406);
    assert.equal(xml.body.issue[0]?.code, 'not-supported');

    const unknown = await setup.callProxy<OperationOutcome>('observation/1', { token });
    assert.equal(unknown.status, 400);
    assert.match(issueText(unknown.body), /not a FHIR resource type/);
  });

  void it('unreachable JWKS gets 503', async () => {
    const setup = started();
    const server = await setup.startServer({
      auditWorker: false,
      smart: loadSmartConfig({
        SMART_ISSUER: setup.issuer.issuer,
        SMART_JWKS_URL: `http://127.0.0.1:${await closedPort()}/jwks`,
      }),
    });
    try {
      const token = await setup.sign({ scope: 'user/Observation.rs' }, { audience: server.fhirEndpointUrl });
      const result = await setup.callProxy<OperationOutcome>(
        `Observation/${setup.observationA}`,
        { token },
        server.fhirEndpointUrl
      );
      assert.equal(result.status, 503);
      assert.match(issueText(result.body), /JWKS could not be fetched/);
    } finally {
      await server.close();
    }
  });

  void it('missing SMART_ISSUER rejects every token', async () => {
    const setup = started();
    const server = await setup.startServer({ auditWorker: false, smart: loadSmartConfig({}) });
    try {
      const token = await setup.sign({ scope: 'user/Observation.rs' }, { audience: server.fhirEndpointUrl });
      const read = await setup.callProxy<OperationOutcome>(
        `Observation/${setup.observationA}`,
        { token },
        server.fhirEndpointUrl
      );
      assert.equal(read.status, 401);
      assert.match(issueText(read.body), /SMART_ISSUER/);

      const configuration = await setup.callProxy<OperationOutcome>(
        '.well-known/smart-configuration',
        {},
        server.fhirEndpointUrl
      );
      assert.equal(configuration.status, 503);
      assert.match(issueText(configuration.body), /set SMART_ISSUER/);
    } finally {
      await server.close();
    }
  });

  void it('search modifiers cannot widen patient', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'patient/Observation.rs', patient: setup.patientA });
    const code = `${setup.testCode.system}|${setup.testCode.code}`;

    const negated = await setup.callProxy<Bundle<Observation>>(
      `Observation?code=${code}&subject:not=Patient/${setup.patientA}`,
      { token }
    );
    // HAPI FHIR 8.8.0 rejects `:not` on reference parameters (400); a server that accepts it must return
    // nothing, because the proxy adds the token's patient.
    const returned = negated.status === 200 ? (negated.body.entry?.length ?? 0) : 0;
    assert.ok(negated.status === 200 || negated.status === 400, `unexpected status ${negated.status}`);
    assert.equal(returned, 0);

    const typed = await setup.callProxy<Bundle<Observation>>(
      `Observation?code=${code}&subject:Patient=${setup.patientA}`,
      { token }
    );
    assert.deepEqual(
      typed.body.entry?.map((entry) => entry.resource?.id),
      [setup.observationA]
    );
  });

  void it('_elements keeps compartment checks', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'patient/Observation.rs', patient: setup.patientA });

    const own = await setup.callProxy<Observation>(`Observation/${setup.observationA}?_elements=code`, {
      token,
    });
    assert.equal(own.status, 200);
    assert.equal(own.body.subject, undefined);

    const other = await setup.callProxy(`Observation/${setup.observationB}?_elements=code`, { token });
    assert.equal(other.status, 403);

    const search = await setup.callProxy<Bundle<Observation>>(
      `Observation?code=${setup.testCode.system}|${setup.testCode.code}&_elements=code`,
      { token }
    );
    assert.deepEqual(
      search.body.entry?.map((entry) => entry.resource?.id),
      [setup.observationA]
    );
  });

  void it('If-None-Match read gets 304', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'user/Observation.rs' });
    const read = await setup.callProxy(`Observation/${setup.observationA}`, { token });
    const etag = read.headers.get('etag') ?? '';
    assert.match(etag, /^W\/"\d+"$/);

    const again = await setup.callProxy(`Observation/${setup.observationA}`, {
      token,
      headers: { 'if-none-match': etag },
    });
    assert.equal(again.status, 304);
  });

  void it('search writes an AuditEvent', async () => {
    const setup = started();
    // A client id of its own keeps the AuditEvents of other tests' searches apart.
    const clientId = `search-${setup.runId}`;
    const token = await setup.sign({
      scope: 'patient/Observation.rs',
      patient: setup.patientB,
      client_id: clientId,
    });
    const search = await setup.callProxy(`Observation?code=${setup.testCode.system}|${setup.testCode.code}`, {
      token,
    });
    assert.equal(search.status, 200);

    const event = await waitFor(
      'the AuditEvent of the search',
      async () => {
        const bundle = await setup.callHapi<Bundle<AuditEvent>>(
          `AuditEvent?entity=Observation/${setup.observationB}&subtype=search-type`
        );
        return bundle.entry
          ?.map((entry) => entry.resource)
          .find((candidate) => candidate?.agent.some((agent) => agent.who?.identifier?.value === clientId));
      },
      20_000
    );
    assert.equal(event.action, 'E');
    const query = event.entity?.find((entity) => entity.query !== undefined)?.query ?? '';
    assert.match(
      Buffer.from(query, 'base64').toString('utf8'),
      new RegExp(`patient=Patient%2F${setup.patientB}`)
    );
    assert.deepEqual(await setup.validationErrors(event), []);
  });

  void it('CORS allows the SMART app origin', async () => {
    const setup = started();
    const appOrigin = new URL(setup.config.smartAppUrl).origin;

    const preflight = await fetch(`${setup.endpoint}/Observation`, {
      method: 'OPTIONS',
      headers: {
        origin: appOrigin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), appOrigin);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Authorization/);

    const token = await setup.sign({ scope: 'user/Observation.rs' });
    const read = await setup.callProxy(`Observation/${setup.observationA}`, {
      token,
      headers: { origin: appOrigin },
    });
    assert.equal(read.headers.get('access-control-allow-origin'), appOrigin);
    assert.match(read.headers.get('access-control-expose-headers') ?? '', /ETag/);

    const stranger = await setup.callProxy('metadata', { headers: { origin: 'http://127.0.0.1:1' } });
    assert.equal(stranger.headers.get('access-control-allow-origin'), null);
  });

  void it('silent FHIR server gets 504', async () => {
    const setup = started();
    // A loopback server that accepts connections and never responds.
    const sockets = new Set<Socket>();
    const silent = createNetServer((socket) => {
      sockets.add(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const server = await setup.startServer({
      config: { ...setup.config, fhirBaseUrl: `http://127.0.0.1:${port}/fhir` },
      auditWorker: false,
      fhirRequestTimeoutMs: 500,
    });
    try {
      const token = await setup.sign({ scope: 'user/Observation.rs' }, { audience: server.fhirEndpointUrl });
      const result = await setup.callProxy<OperationOutcome>(
        'Observation/1',
        { token },
        server.fhirEndpointUrl
      );
      assert.equal(result.status, 504);
      assert.equal(result.body.issue[0]?.code, 'timeout');
      assert.match(issueText(result.body), /did not respond within 500 ms/);
    } finally {
      await server.close();
      for (const socket of sockets) {
        socket.destroy();
      }
      await new Promise<void>((resolve) => {
        silent.close(() => {
          resolve();
        });
      });
    }
  });
});
