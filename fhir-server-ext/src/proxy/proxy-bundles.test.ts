/**
 * Transactions and batches through the SMART-secured FHIR endpoint, against the real HAPI FHIR and Redis
 * peers with tokens from the loopback issuer. Covered: the scope check of every entry before anything is
 * forwarded, one Provenance per written resource, batch writes that fail alone, searches narrowed to the
 * token's patient, the AuditEvents of read entries, and read entries withheld when Redis is down.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type {
  AuditEvent,
  Bundle,
  Identifier,
  Observation,
  OperationOutcome,
  Provenance,
} from '@medplum/fhirtypes';
import { waitFor } from '@monitormed/common';
import { startPrivateRedis, startProxyTestKit, type ProxyTestKit } from './test-kit.js';

let kit: ProxyTestKit | undefined;

/** Returns the running kit; throws when the before hook failed, whose error gives the reason. */
function started(): ProxyTestKit {
  if (kit === undefined) {
    throw new Error('The test setup did not start; see the before hook error.');
  }
  return kit;
}

const MARKER_SYSTEM = 'https://monitormed.dev/fhir/sid/test-bundle-entry';

/** Builds an Observation of this run with an identifier that finds it again in HAPI. */
function markedObservation(setup: ProxyTestKit, patientId: string, marker: string): Observation {
  const identifier: Identifier = { system: MARKER_SYSTEM, value: `${setup.runId}-${marker}` };
  return { ...setup.observation(undefined, patientId), identifier: [identifier] };
}

async function countMarked(setup: ProxyTestKit, marker: string): Promise<number> {
  const bundle = await setup.callHapi<Bundle>(
    `Observation?identifier=${MARKER_SYSTEM}|${setup.runId}-${marker}&_summary=count`
  );
  return bundle.total ?? 0;
}

async function provenancesOf(setup: ProxyTestKit, reference: string): Promise<Provenance[]> {
  const bundle = await setup.callHapi<Bundle<Provenance>>(`Provenance?target=${reference}`);
  return (bundle.entry ?? []).flatMap((entry) => (entry.resource === undefined ? [] : [entry.resource]));
}

/** Stores an Observation of this run with a fixed id, straight in HAPI. */
async function storeObservation(setup: ProxyTestKit, name: string, patientId: string): Promise<string> {
  const id = `mm-proxyb-${setup.runId}-${name}`;
  await setup.callHapi(`Observation/${id}`, 'PUT', setup.observation(id, patientId));
  return id;
}

/**
 * Waits for the AuditEvent that the worker writes for a read entry, found by entity, client id and
 * subtype. The subtype separates the events of a read and of a search that both name one resource,
 * which HAPI may return in either order.
 */
function auditEventOf(
  setup: ProxyTestKit,
  reference: string,
  clientId: string,
  subtype: 'read' | 'search-type'
): Promise<AuditEvent> {
  return waitFor(
    `the ${subtype} AuditEvent naming ${reference}`,
    async () => {
      const bundle = await setup.callHapi<Bundle<AuditEvent>>(`AuditEvent?entity=${reference}`);
      return bundle.entry
        ?.map((entry) => entry.resource)
        .find(
          (candidate) =>
            candidate?.agent.some((agent) => agent.who?.identifier?.value === clientId) === true &&
            candidate.subtype?.some((coding) => coding.code === subtype) === true
        );
    },
    20_000
  );
}

void describe('FHIR proxy bundles', () => {
  before(async () => {
    kit = await startProxyTestKit('proxyb');
  });

  after(async () => {
    await kit?.close();
  });

  void it('out-of-scope entries reject the transaction', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'patient/Observation.cruds', patient: setup.patientA });
    const transaction: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: markedObservation(setup, setup.patientA, 'reject-own'),
          request: { method: 'POST', url: 'Observation' },
        },
        {
          resource: markedObservation(setup, setup.patientB, 'reject-other'),
          request: { method: 'POST', url: 'Observation' },
        },
        { request: { method: 'GET', url: `Observation/${setup.observationB}` } },
      ],
    };
    const result = await setup.callProxy<OperationOutcome>('', { token, method: 'POST', body: transaction });

    assert.equal(result.status, 403);
    assert.deepEqual(
      result.body.issue.map((issue) => issue.expression),
      [['Bundle.entry[1]'], ['Bundle.entry[2]']]
    );
    assert.deepEqual(
      result.body.issue.map((issue) => issue.code),
      ['forbidden', 'forbidden']
    );
    assert.match(result.body.issue[0]?.details?.text ?? '', /^Bundle entry 1 \(POST Observation\)/);
    assert.match(result.body.issue[0]?.details?.text ?? '', new RegExp(`Patient/${setup.patientA}`));
    assert.match(result.body.issue[1]?.details?.text ?? '', /^Bundle entry 2 \(GET Observation\//);
    assert.equal(await countMarked(setup, 'reject-own'), 0, 'the in-scope entry was written');
  });

  void it('batch write needs the c scope', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'user/Observation.rs' });
    const batch: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: `Observation/${setup.observationA}` } },
        {
          resource: markedObservation(setup, setup.patientA, 'read-only'),
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    };
    const result = await setup.callProxy<OperationOutcome>('', { token, method: 'POST', body: batch });

    assert.equal(result.status, 403);
    assert.equal(result.body.issue.length, 1);
    assert.deepEqual(result.body.issue[0]?.expression, ['Bundle.entry[1]']);
    assert.match(result.body.issue[0].details?.text ?? '', /user\/Observation\.c/);
    assert.equal(await countMarked(setup, 'read-only'), 0);
  });

  void it('malformed entry gets 400', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'user/Observation.cruds' });
    const batch: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ resource: setup.observation(undefined, setup.patientA) }],
    };
    const result = await setup.callProxy<OperationOutcome>('', { token, method: 'POST', body: batch });

    assert.equal(result.status, 400);
    assert.equal(result.body.issue[0]?.code, 'invalid');
    assert.deepEqual(result.body.issue[0].expression, ['Bundle.entry[0]']);
  });

  void it('patient transaction writes and reads', async () => {
    const setup = started();
    const clientId = `transaction-${setup.runId}`;
    const token = await setup.sign({
      scope: 'patient/Observation.cruds',
      patient: setup.patientA,
      client_id: clientId,
    });
    const updatedId = await storeObservation(setup, 'tx-update', setup.patientA);
    const readId = await storeObservation(setup, 'tx-read', setup.patientA);
    const transaction: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: `urn:uuid:${randomUUID()}`,
          resource: markedObservation(setup, setup.patientA, 'tx-create'),
          request: { method: 'POST', url: 'Observation' },
        },
        {
          resource: { ...setup.observation(updatedId, setup.patientA), status: 'amended' },
          request: { method: 'PUT', url: `Observation/${updatedId}` },
        },
        { request: { method: 'GET', url: `Observation/${readId}` } },
        {
          request: {
            method: 'GET',
            url: `Observation?code=${setup.testCode.system}|${setup.testCode.code}`,
          },
        },
      ],
    };
    const result = await setup.callProxy<Bundle>('', { token, method: 'POST', body: transaction });

    assert.equal(result.status, 200);
    assert.equal(result.body.type, 'transaction-response');
    assert.equal(result.body.entry?.length, 4, 'the Provenance entries were not removed');
    assert.match(result.body.entry[0]?.response?.status ?? '', /^201/);
    assert.match(result.body.entry[1]?.response?.status ?? '', /^200/);
    assert.equal(result.body.entry[2]?.resource?.id, readId);

    // The search was narrowed to the token's patient, so patient B's Observation is missing.
    const matches = (result.body.entry[3]?.resource as Bundle<Observation> | undefined)?.entry ?? [];
    const subjects = new Set(matches.map((entry) => entry.resource?.subject?.reference));
    assert.deepEqual([...subjects], [`Patient/${setup.patientA}`]);
    assert.ok(matches.some((entry) => entry.resource?.id === readId));

    const createdId = (result.body.entry[0]?.response?.location ?? '').split('/')[1] ?? '';
    const created = await provenancesOf(setup, `Observation/${createdId}`);
    assert.deepEqual(
      created.map((provenance) => provenance.activity?.coding?.[0]?.code),
      ['CREATE']
    );
    const updated = await provenancesOf(setup, `Observation/${updatedId}`);
    assert.deepEqual(
      updated.map((provenance) => provenance.activity?.coding?.[0]?.code),
      ['UPDATE']
    );
    for (const provenance of [...created, ...updated]) {
      assert.deepEqual(await setup.validationErrors(provenance), [], `Provenance/${provenance.id ?? ''}`);
    }

    const readEvent = await auditEventOf(setup, `Observation/${readId}`, clientId, 'read');
    assert.equal(readEvent.subtype?.[0]?.code, 'read');
    assert.deepEqual(
      readEvent.entity?.map((entity) => entity.what?.reference),
      [`Patient/${setup.patientA}`, `Observation/${readId}/_history/1`]
    );
    assert.deepEqual(await setup.validationErrors(readEvent), []);
    const searchEvent = await auditEventOf(
      setup,
      `Observation/${setup.observationA}`,
      clientId,
      'search-type'
    );
    assert.equal(searchEvent.subtype?.[0]?.code, 'search-type');
    const query = searchEvent.entity?.find((entity) => entity.query !== undefined)?.query ?? '';
    assert.match(
      Buffer.from(query, 'base64').toString('utf8'),
      new RegExp(`patient=Patient%2F${setup.patientA}`)
    );
  });

  void it('batch writes succeed or fail alone', async () => {
    const setup = started();
    const clientId = `batch-${setup.runId}`;
    const token = await setup.sign({ scope: 'user/Observation.cruds', client_id: clientId });
    const staleId = await storeObservation(setup, 'batch-stale', setup.patientB);
    const deletedId = await storeObservation(setup, 'batch-delete', setup.patientB);
    const batch: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        {
          resource: markedObservation(setup, setup.patientB, 'batch-create'),
          request: { method: 'POST', url: 'Observation' },
        },
        {
          resource: setup.observation(staleId, setup.patientB),
          request: { method: 'PUT', url: `Observation/${staleId}`, ifMatch: 'W/"9"' },
        },
        { request: { method: 'DELETE', url: `Observation/${deletedId}` } },
        { request: { method: 'GET', url: `Observation/${setup.observationB}` } },
      ],
    };
    const result = await setup.callProxy<Bundle>('', { token, method: 'POST', body: batch });

    assert.equal(result.status, 200);
    assert.equal(result.body.type, 'batch-response');
    const statuses = result.body.entry?.map((entry) => entry.response?.status.slice(0, 3));
    // HAPI FHIR 8.8.0 rejects a stale If-Match with 409 and returns 204 for a delete in a transaction.
    assert.deepEqual(statuses, ['201', '409', '204', '200']);
    assert.equal(result.body.entry?.[1]?.response?.outcome?.resourceType, 'OperationOutcome');
    assert.equal(result.body.entry[3]?.resource?.id, setup.observationB);

    const createdId = (result.body.entry[0]?.response?.location ?? '').split('/')[1] ?? '';
    const created = await provenancesOf(setup, `Observation/${createdId}`);
    assert.equal(created.length, 1);
    assert.equal(created[0]?.activity?.coding?.[0]?.code, 'CREATE');
    for (const provenance of created) {
      assert.deepEqual(await setup.validationErrors(provenance), [], `Provenance/${provenance.id ?? ''}`);
    }
    assert.deepEqual(
      await provenancesOf(setup, `Observation/${staleId}`),
      [],
      'a failed write has a Provenance'
    );
    const deleted = await provenancesOf(setup, `Observation/${deletedId}`);
    assert.deepEqual(
      deleted.map((provenance) => provenance.activity?.coding?.[0]?.code),
      ['DELETE']
    );

    const event = await auditEventOf(setup, `Observation/${setup.observationB}`, clientId, 'read');
    assert.equal(event.subtype?.[0]?.code, 'read');
    assert.deepEqual(await setup.validationErrors(event), []);
  });

  void it('patient batch search is narrowed', async () => {
    const setup = started();
    const token = await setup.sign({ scope: 'patient/Observation.rs', patient: setup.patientB });
    const batch: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        {
          request: {
            method: 'GET',
            url: `Observation?code=${setup.testCode.system}|${setup.testCode.code}`,
          },
        },
      ],
    };
    const result = await setup.callProxy<Bundle>('', { token, method: 'POST', body: batch });

    assert.equal(result.status, 200);
    const matches = (result.body.entry?.[0]?.resource as Bundle<Observation> | undefined)?.entry ?? [];
    assert.ok(matches.length > 0, 'the search found nothing');
    for (const match of matches) {
      assert.equal(match.resource?.subject?.reference, `Patient/${setup.patientB}`);
    }
  });

  void it('read entries withheld without Redis', async () => {
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

      const token = await setup.sign(
        { scope: 'user/Observation.cruds' },
        { audience: server.fhirEndpointUrl }
      );
      const batch: Bundle = {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          {
            resource: markedObservation(setup, setup.patientA, 'no-redis'),
            request: { method: 'POST', url: 'Observation' },
          },
          { request: { method: 'GET', url: `Observation/${setup.observationA}` } },
        ],
      };
      const result = await setup.callProxy<Bundle>(
        '',
        { token, method: 'POST', body: batch },
        server.fhirEndpointUrl
      );

      assert.equal(result.status, 200);
      assert.match(result.body.entry?.[0]?.response?.status ?? '', /^201/);
      const withheld = result.body.entry?.[1];
      assert.equal(withheld?.response?.status, '503');
      assert.equal(withheld.resource, undefined);
      assert.match(
        withheld.response.outcome?.issue[0]?.details?.text ?? '',
        /patient data of this entry is withheld/
      );
      assert.equal(await countMarked(setup, 'no-redis'), 1);
    } finally {
      redis.process.kill('SIGKILL');
      await server.close().catch(() => undefined);
    }
  });
});
