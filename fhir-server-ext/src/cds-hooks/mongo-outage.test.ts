/**
 * The CDS Hooks service when MongoDB goes away after start: cards still go out, without uuids, and
 * feedback gets 503 so that the client retries. MongoDB is reached through a loopback proxy that the test
 * cuts, so the shared FerretDB keeps running.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { portOf } from '@monitormed/common';
import type { FhirServerExt } from '../server.js';
import { AI_FLAGS_SERVICE_ID } from './service-definition.js';
import {
  createCdsFixture,
  signClientJwt,
  startTcpProxy,
  startTestCdsClient,
  startTestServer,
  testConfig,
  testSettings,
  type CdsFixture,
  type TcpProxy,
  type TestCdsClient,
} from './test-support.js';
import type { CdsCard } from './types.js';

const runId = randomUUID().slice(0, 8);
const sharedConfig = testConfig(runId);

let proxy: TcpProxy | undefined;
let client: TestCdsClient | undefined;
let server: FhirServerExt | undefined;
let fixture: CdsFixture | undefined;

async function post(suffix: string, body: unknown): Promise<Response> {
  if (server === undefined || client === undefined) {
    throw new Error('The test setup did not finish; see the before hook error.');
  }
  const url = `http://127.0.0.1:${server.port}/cds-services/${AI_FLAGS_SERVICE_ID}${suffix}`;
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${await signClientJwt(client, { aud: url })}`,
    },
    body: JSON.stringify(body),
  });
}

void describe('CDS Hooks without MongoDB', () => {
  before(async () => {
    const mongoPort = portOf(sharedConfig.mongoUrl.replace(/^mongodb:/, 'http:'));
    proxy = await startTcpProxy(mongoPort);
    const config = { ...sharedConfig, mongoUrl: `mongodb://127.0.0.1:${proxy.port}` };
    client = await startTestCdsClient(runId);
    server = await startTestServer(config, testSettings(config, client), runId);
    fixture = await createCdsFixture(config, runId);
    await proxy.cut();
  });

  after(async () => {
    await proxy?.cut();
    await server?.close();
    await client?.close();
  });

  void it('cards go out without uuids', async () => {
    assert.ok(fixture !== undefined);
    const response = await post('', {
      hook: 'patient-view',
      hookInstance: randomUUID(),
      context: { userId: 'Practitioner/test-clinician', patientId: fixture.flaggedPatientId },
    });
    assert.equal(response.status, 200, await response.clone().text());
    const { cards } = (await response.json()) as { cards: CdsCard[] };

    assert.equal(cards.length, 2);
    for (const card of cards) {
      assert.equal(card.uuid, undefined);
      assert.equal(card.suggestions?.[0]?.uuid, undefined);
      assert.ok(card.summary !== '');
    }
  });

  void it('feedback gets 503', async () => {
    const response = await post('/feedback', {
      feedback: [{ card: randomUUID(), outcome: 'overridden', outcomeTimestamp: '2026-12-01T10:00:00Z' }],
    });
    assert.equal(response.status, 503, await response.clone().text());
    assert.match(await response.text(), /database is unavailable; retry later/);
  });
});
