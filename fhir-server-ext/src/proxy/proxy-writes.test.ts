/**
 * Writes through the SMART-secured FHIR endpoint and the durability of its AuditEvents, against the real
 * HAPI FHIR and Redis peers. Covered: scope checks on writes, the Provenance that lands with each write
 * and transaction entry, and AuditEvents that survive a deleted resource or withhold data without Redis.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent, Bundle, Observation, OperationOutcome, Provenance } from '@medplum/fhirtypes';
import { createLogger, waitFor } from '@monitormed/common';
import { createAuditQueue } from './audit-queue.js';
import { CLIENT_ID_SYSTEM, USER_ID_SYSTEM } from './records.js';
import { issueText, startPrivateRedis, startProxyTestKit, type ProxyTestKit } from './test-kit.js';

let kit: ProxyTestKit | undefined;

/** Returns the running kit; throws when the before hook failed, whose error gives the reason. */
function started(): ProxyTestKit {
  if (kit === undefined) {
    throw new Error('The test setup did not start; see the before hook error.');
  }
  return kit;
}

async function provenancesOf(setup: ProxyTestKit, reference: string): Promise<Provenance[]> {
  const bundle = await setup.callHapi<Bundle<Provenance>>(`Provenance?target=${reference}`);
  return (bundle.entry ?? []).flatMap((entry) => (entry.resource === undefined ? [] : [entry.resource]));
}

void describe('FHIR proxy writes', () => {
  before(async () => {
    kit = await startProxyTestKit('proxyw');
  });

  after(async () => {
    await kit?.close();
  });

  void it('read scope cannot create', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'user/Observation.rs' });
    const result = await setup.callProxy<OperationOutcome>('Observation', {
      token,
      method: 'POST',
      body: setup.observation(undefined, setup.patientA),
    });

    assert.equal(result.status, 403);
    assert.equal(result.body.issue[0]?.code, 'forbidden');
    assert.match(issueText(result.body), /user\/Observation\.c/);
  });

  void it('patient token cannot write elsewhere', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'patient/Observation.cruds', patient: setup.patientA });

    const create = await setup.callProxy<OperationOutcome>('Observation', {
      token,
      method: 'POST',
      body: setup.observation(undefined, setup.patientB),
    });
    assert.equal(create.status, 403);
    assert.match(issueText(create.body), new RegExp(`Patient/${setup.patientA}`));

    const remove = await setup.callProxy<OperationOutcome>(`Observation/${setup.observationB}`, {
      token,
      method: 'DELETE',
    });
    assert.equal(remove.status, 403);
  });

  void it('create lands with a Provenance', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'patient/Observation.cruds', patient: setup.patientA });
    const created = await setup.callProxy<Observation>('Observation', {
      token,
      method: 'POST',
      body: setup.observation(undefined, setup.patientA),
    });

    assert.equal(created.status, 201);
    const id = created.body.id ?? '';
    assert.match(
      created.headers.get('location') ?? '',
      new RegExp(`^${setup.endpoint}/Observation/${id}/_history/1$`)
    );
    assert.equal(created.headers.get('etag'), 'W/"1"');

    const provenances = await provenancesOf(setup, `Observation/${id}`);
    assert.equal(provenances.length, 1);
    const provenance = provenances[0];
    assert.ok(provenance !== undefined);
    assert.equal(provenance.activity?.coding?.[0]?.code, 'CREATE');
    assert.deepEqual(
      provenance.agent.map((agent) => agent.who.identifier),
      [
        { system: USER_ID_SYSTEM, value: setup.fhirUser },
        { system: CLIENT_ID_SYSTEM, value: setup.clientId },
      ]
    );
    assert.deepEqual(await setup.validationErrors(provenance), []);
  });

  void it('update and patch land with Provenances', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'user/Observation.cruds' });
    const id = `mm-proxyw-${setup.runId}-upd`;

    const updated = await setup.callProxy<Observation>(`Observation/${id}`, {
      token,
      method: 'PUT',
      body: setup.observation(id, setup.patientB),
    });
    assert.equal(updated.status, 201);

    const patched = await setup.callProxy<Observation>(`Observation/${id}`, {
      token,
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json', 'if-match': 'W/"1"' },
      body: [{ op: 'replace', path: '/status', value: 'amended' }],
    });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.status, 'amended');
    assert.equal(patched.headers.get('etag'), 'W/"2"');

    const provenances = await provenancesOf(setup, `Observation/${id}`);
    const activities = provenances.map((provenance) => provenance.activity?.coding?.[0]?.code);
    assert.deepEqual(activities.sort(), ['UPDATE', 'UPDATE']);
    for (const provenance of provenances) {
      assert.deepEqual(await setup.validationErrors(provenance), [], `Provenance/${provenance.id ?? ''}`);
    }
  });

  // HAPI FHIR 8.8.0 rejects a stale If-Match with 409 (R4 requires 412), and the proxy passes it on.
  void it('stale If-Match gets 409', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'user/Observation.cruds' });
    const result = await setup.callProxy<OperationOutcome>(`Observation/${setup.observationB}`, {
      token,
      method: 'PUT',
      headers: { 'if-match': 'W/"99"' },
      body: setup.observation(setup.observationB, setup.patientB),
    });
    assert.equal(result.status, 409);
    assert.equal(result.body.resourceType, 'OperationOutcome');
  });

  void it('delete lands with a Provenance', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'user/Observation.cruds' });
    const id = `mm-proxyw-${setup.runId}-del`;
    await setup.callHapi(`Observation/${id}`, 'PUT', setup.observation(id, setup.patientB));

    const deleted = await setup.callProxy(`Observation/${id}`, { token, method: 'DELETE' });
    assert.equal(deleted.status, 200);
    const provenances = await provenancesOf(setup, `Observation/${id}`);
    const provenance = provenances[0];
    assert.ok(provenance !== undefined, `no Provenance targets Observation/${id}`);
    assert.equal(provenance.activity?.coding?.[0]?.code, 'DELETE');
    assert.deepEqual(await setup.validationErrors(provenance), []);
  });

  void it('transaction writes get Provenances', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'user/Observation.cruds' });
    const fullUrl = `urn:uuid:${randomUUID()}`;
    const transaction: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl,
          resource: setup.observation(undefined, setup.patientA),
          request: { method: 'POST', url: 'Observation' },
        },
        { request: { method: 'GET', url: `Observation/${setup.observationA}` } },
      ],
    };
    const result = await setup.callProxy<Bundle>('', { token, method: 'POST', body: transaction });

    assert.equal(result.status, 200);
    assert.equal(result.body.entry?.length, 2);
    // Transaction response locations are relative to the base, so no server URL shows through.
    const location = result.body.entry[0]?.response?.location ?? '';
    assert.match(location, /^Observation\/[^/]+\/_history\/1$/);
    const id = location.split('/')[1] ?? '';
    const provenances = await provenancesOf(setup, `Observation/${id}`);
    assert.equal(provenances[0]?.activity?.coding?.[0]?.code, 'CREATE');
  });

  void it('matched conditional create adds no Provenance', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'user/Observation.cruds' });
    const system = 'urn:monitormed:test:proxyw';
    const value = `${setup.runId}-cond`;
    const body: Observation = {
      ...setup.observation(undefined, setup.patientA),
      identifier: [{ system, value }],
    };
    const ifNoneExist = `identifier=${encodeURIComponent(`${system}|${value}`)}`;

    const first = await setup.callProxy<Observation>('Observation', {
      token,
      method: 'POST',
      headers: { 'if-none-exist': ifNoneExist },
      body,
    });
    assert.equal(first.status, 201);
    const second = await setup.callProxy<Observation>('Observation', {
      token,
      method: 'POST',
      headers: { 'if-none-exist': ifNoneExist },
      body,
    });
    assert.equal(second.status, 200);
    assert.equal(second.body.id, first.body.id);

    const provenances = await provenancesOf(setup, `Observation/${first.body.id ?? ''}`);
    assert.deepEqual(
      provenances.map((provenance) => provenance.activity?.coding?.[0]?.code),
      ['CREATE']
    );
  });

  void it('conditional update records create then update', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'user/Observation.cruds' });
    const system = 'urn:monitormed:test:proxyw';
    const value = `${setup.runId}-condput`;
    const body: Observation = {
      ...setup.observation(undefined, setup.patientB),
      identifier: [{ system, value }],
    };
    const path = `Observation?identifier=${encodeURIComponent(`${system}|${value}`)}`;

    const created = await setup.callProxy<Observation>(path, { token, method: 'PUT', body });
    assert.equal(created.status, 201);
    const id = created.body.id ?? '';
    const updated = await setup.callProxy<Observation>(path, {
      token,
      method: 'PUT',
      body: { ...body, id, status: 'amended' },
    });
    assert.equal(updated.status, 200);

    const provenances = await provenancesOf(setup, `Observation/${id}`);
    const activities = provenances.map((provenance) => provenance.activity?.coding?.[0]?.code);
    assert.deepEqual(activities.sort(), ['CREATE', 'UPDATE']);
  });

  void it('matched conditional create in transaction', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'user/Observation.cruds' });
    const system = 'urn:monitormed:test:proxyw';
    const value = `${setup.runId}-condtx`;
    const ifNoneExist = `identifier=${encodeURIComponent(`${system}|${value}`)}`;
    const transaction = (): Bundle => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: `urn:uuid:${randomUUID()}`,
          resource: { ...setup.observation(undefined, setup.patientA), identifier: [{ system, value }] },
          request: { method: 'POST', url: 'Observation', ifNoneExist },
        },
      ],
    });

    const first = await setup.callProxy<Bundle>('', { token, method: 'POST', body: transaction() });
    assert.equal(first.status, 200);
    const second = await setup.callProxy<Bundle>('', { token, method: 'POST', body: transaction() });
    assert.equal(second.status, 200);
    assert.equal(second.body.entry?.[0]?.response?.status, '200 OK');

    const id = (first.body.entry?.[0]?.response?.location ?? '').split('/')[1] ?? '';
    const provenances = await provenancesOf(setup, `Observation/${id}`);
    assert.equal(provenances.length, 1);
  });

  void it('audit survives a deleted resource', async () => {
    const setup = started();
    const prefix = `${setup.queuePrefix}-late`;
    const id = `mm-proxyw-${setup.runId}-gone`;
    await setup.callHapi(`Observation/${id}`, 'PUT', setup.observation(id, setup.patientA));

    // Without a worker the AuditEvent waits in Redis while the resource is deleted.
    const server = await setup.startServer({ queuePrefix: prefix, auditWorker: false });
    const late = createAuditQueue({
      redisUrl: setup.config.redisUrl,
      prefix,
      fhirBaseUrl: setup.config.fhirBaseUrl,
      queueTimeoutMs: 5_000,
      writeTimeoutMs: 30_000,
      worker: false,
      log: createLogger('proxy-writes-test', 'warn'),
    });
    try {
      const token = await setup.sign({ scope: 'user/Observation.rs' }, { audience: server.fhirEndpointUrl });
      const read = await setup.callProxy(`Observation/${id}`, { token }, server.fhirEndpointUrl);
      assert.equal(read.status, 200);
      const [job] = await late.queue.getJobs(['waiting']);
      assert.ok(job !== undefined, 'no AuditEvent job is waiting');
      const deleted = await setup.callHapi<OperationOutcome>(`Observation/${id}`, 'DELETE');
      assert.equal(deleted.issue[0]?.severity, 'information', `DELETE failed: ${JSON.stringify(deleted)}`);

      // The worker that starts now finds the Observation deleted.
      await server.close();
      const worker = await setup.startServer({ queuePrefix: prefix });
      try {
        const event = await waitFor(
          'the AuditEvent of the deleted Observation',
          async () => {
            const stored = await setup.callHapi<AuditEvent | OperationOutcome>(
              `AuditEvent/${job.data.id ?? ''}`
            );
            return stored.resourceType === 'AuditEvent' ? stored : undefined;
          },
          20_000
        );
        const value = `${setup.config.fhirBaseUrl}/Observation/${id}/_history/1`;
        const identifiers = event.entity?.map((entity) => entity.what?.identifier?.value);
        assert.ok(
          identifiers?.includes(value),
          `AuditEvent entities ${JSON.stringify(identifiers)} lack ${value}`
        );
        assert.deepEqual(await setup.validationErrors(event), []);
      } finally {
        await worker.close();
      }
    } finally {
      await late.queue.obliterate({ force: true });
      await late.close();
      await server.close();
    }
  });

  void it('read without Redis is withheld', async () => {
    const setup = started();
    const redis = await startPrivateRedis();
    const server = await setup.startServer({
      config: { ...setup.config, redisUrl: redis.url },
      queueTimeoutMs: 1_000,
      auditWorker: false,
    });
    try {
      redis.process.kill('SIGTERM');
      await new Promise((resolve) => redis.process.once('exit', resolve));

      const token = await setup.sign({ scope: 'user/Observation.rs' }, { audience: server.fhirEndpointUrl });
      const read = await setup.callProxy<OperationOutcome>(
        `Observation/${setup.observationA}`,
        { token },
        server.fhirEndpointUrl
      );
      assert.equal(read.status, 503);
      assert.equal(read.body.resourceType, 'OperationOutcome');
      assert.match(issueText(read.body), /no patient data is released/);
    } finally {
      redis.process.kill('SIGKILL');
      await server.close().catch(() => undefined);
    }
  });
});
