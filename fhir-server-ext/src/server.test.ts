/**
 * fhir-server-ext against the real HAPI FHIR and Redis peers: Subscription lifecycle, hook input checks,
 * health and metrics endpoints, and shutdown.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Bundle, OperationOutcome, Subscription } from '@medplum/fhirtypes';
import {
  ANALYZE_QUEUE,
  AIAST,
  ANALYZER_WRITE_SOURCE,
  createFhirClient,
  loadConfig,
  type AnalyzeResultJob,
} from '@monitormed/common';
import Bull from 'bull';
import { startFhirServerExt, type FhirServerExt } from './server.js';
import { SECRET_HEADER, SUBSCRIPTION_OWNER_SYSTEM } from './subscription.js';
import { TimeoutError } from './timeout-error.js';

const runId = randomUUID().slice(0, 8);
const config = { ...loadConfig(), logLevel: process.env['LOG_LEVEL'] ?? 'warn' };
const fhir = createFhirClient(config);
const queuePrefix = `mmtest-ext-${runId}`;
// Criteria no real result matches, so this test's Subscription never receives other tests' data.
const criteria = `Observation?_security=${AIAST.system ?? ''}|AIAST&code=https://monitormed.dev/fhir/CodeSystem/test|none-${runId}`;

let server: FhirServerExt | undefined;
let queue: Bull.Queue<AnalyzeResultJob> | undefined;

async function readSubscription(id: string): Promise<Subscription> {
  return (await fhir.read({ resourceType: 'Subscription', id })) as unknown as Subscription;
}

function url(path: string): string {
  if (server === undefined) {
    throw new Error('fhir-server-ext did not start; see the before hook error.');
  }
  return `http://127.0.0.1:${server.port}${path}`;
}

async function requireHapi(): Promise<void> {
  try {
    await fetch(`${config.fhirBaseUrl}/metadata`, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new Error(
      `HAPI FHIR at ${config.fhirBaseUrl} is not reachable (${(err as Error).message}). Start the peers with peers/peers.sh start all.`
    );
  }
}

void describe('fhir-server-ext', () => {
  before(async () => {
    await requireHapi();
    server = await startFhirServerExt({
      config,
      port: 0,
      subscriptionOwner: `test-ext-${runId}`,
      subscriptionCriteria: criteria,
      removeSubscriptionOnClose: true,
      queuePrefix,
    });
    queue = new Bull<AnalyzeResultJob>(ANALYZE_QUEUE, config.redisUrl, { prefix: queuePrefix });
  });

  after(async () => {
    // Remove this run's jobs from Redis; the prefix is never used again.
    await queue?.obliterate({ force: true });
    await queue?.close();
    await server?.close();
  });

  void it('subscription is active with the hook channel', async () => {
    const subscription = await readSubscription(server?.subscriptionId ?? '');
    assert.equal(subscription.status, 'active');
    assert.equal(subscription.criteria, criteria);
    assert.equal(subscription.channel.type, 'rest-hook');
    assert.equal(subscription.channel.endpoint, `http://127.0.0.1:${server?.port ?? 0}/subscription-hook`);
    assert.equal(subscription.channel.payload, 'application/fhir+json');
    assert.deepEqual(subscription.channel.header, [`${SECRET_HEADER}: ${config.subscriptionSecret}`]);

    const outcome = (await fhir.operation({
      resourceType: 'Subscription',
      name: '$validate',
      method: 'POST',
      input: { ...subscription },
    })) as unknown as OperationOutcome;
    const errors = outcome.issue.filter((issue) => issue.severity === 'error' || issue.severity === 'fatal');
    assert.deepEqual(errors, [], 'the Subscription must $validate against R4');
  });

  void it('restart with a new endpoint updates the subscription', async () => {
    const owner = `test-ext-restart-${runId}`;
    const first = await startFhirServerExt({
      config,
      port: 0,
      subscriptionOwner: owner,
      subscriptionCriteria: criteria,
      queuePrefix,
    });
    await first.close();
    const second = await startFhirServerExt({
      config,
      port: 0,
      subscriptionOwner: owner,
      subscriptionCriteria: criteria,
      subscriptionEndpoint: 'http://127.0.0.1:9/subscription-hook',
      removeSubscriptionOnClose: true,
      queuePrefix,
    });
    try {
      assert.equal(second.subscriptionId, first.subscriptionId);
      const subscription = await readSubscription(second.subscriptionId ?? '');
      assert.equal(subscription.status, 'active');
      assert.equal(subscription.channel.endpoint, 'http://127.0.0.1:9/subscription-hook');
    } finally {
      await second.close();
    }

    await assert.rejects(readSubscription(second.subscriptionId ?? ''), /HTTP 410|HTTP 404/);
    const remaining = (await fhir.search({
      resourceType: 'Subscription',
      searchParams: { _tag: `${SUBSCRIPTION_OWNER_SYSTEM}|${owner}` },
      options: { headers: { 'Cache-Control': 'no-cache' } },
    })) as unknown as Bundle;
    assert.equal(remaining.entry?.length ?? 0, 0);
  });

  void it('valid delivery queues one job', async () => {
    const id = `test-${runId}`;
    const body = {
      resourceType: 'Observation',
      id,
      meta: { versionId: '7', security: [AIAST] },
      status: 'final',
    };
    const headers = { 'content-type': 'application/fhir+json', [SECRET_HEADER]: config.subscriptionSecret };

    const first = await fetch(url(`/subscription-hook/Observation/${id}`), {
      method: 'PUT',
      headers,
      body: JSON.stringify(body),
    });
    const second = await fetch(url('/subscription-hook'), {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
    });
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    assert.match(first.headers.get('content-type') ?? '', /application\/fhir\+json/);

    const job = await queue?.getJob(`Observation/${id}/_history/7`);
    assert.deepEqual(job?.data, { resourceType: 'Observation', id, versionId: '7' });
    const jobs = await queue?.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed']);
    assert.equal(jobs?.filter((candidate) => candidate.data.id === id).length, 1);
  });

  void it('analyzer write-back queues no job', async () => {
    const id = `test-own-${runId}`;
    const headers = { 'content-type': 'application/fhir+json', [SECRET_HEADER]: config.subscriptionSecret };
    const body = {
      resourceType: 'Observation',
      id,
      meta: { versionId: '2', security: [AIAST], source: `${ANALYZER_WRITE_SOURCE}#a1b2c3` },
      status: 'final',
    };

    const response = await fetch(url(`/subscription-hook/Observation/${id}`), {
      method: 'PUT',
      headers,
      body: JSON.stringify(body),
    });
    assert.equal(response.status, 200);
    assert.equal(await queue?.getJob(`Observation/${id}/_history/2`), null);

    // A later version from another writer, such as the vendor's corrected result, is analysed again.
    const corrected = { ...body, meta: { versionId: '3', security: [AIAST], source: '#d4e5f6' } };
    await fetch(url(`/subscription-hook/Observation/${id}`), {
      method: 'PUT',
      headers,
      body: JSON.stringify(corrected),
    });
    const job = await queue?.getJob(`Observation/${id}/_history/3`);
    assert.equal(job?.data.versionId, '3');

    const metrics = await (await fetch(url('/metrics'))).text();
    assert.match(metrics, /^monitormed_subscription_analyzer_write_deliveries_total 1$/m);
  });

  void it('mismatched id or missing version gets 400', async () => {
    const headers = { 'content-type': 'application/fhir+json', [SECRET_HEADER]: config.subscriptionSecret };
    const body = { resourceType: 'Observation', id: 'a', meta: { versionId: '1', security: [AIAST] } };

    const mismatched = await fetch(url('/subscription-hook/Observation/b'), {
      method: 'PUT',
      headers,
      body: JSON.stringify(body),
    });
    assert.equal(mismatched.status, 400);

    const unversioned = { ...body, meta: { security: [AIAST] } };
    const missing = await fetch(url('/subscription-hook/Observation/a'), {
      method: 'PUT',
      headers,
      body: JSON.stringify(unversioned),
    });
    assert.equal(missing.status, 400);
    const outcome = (await missing.json()) as { resourceType: string };
    assert.equal(outcome.resourceType, 'OperationOutcome');
  });

  void it('malformed JSON gets 400', async () => {
    const headers = { 'content-type': 'application/fhir+json', [SECRET_HEADER]: config.subscriptionSecret };
    const response = await fetch(url('/subscription-hook/Observation/a'), {
      method: 'PUT',
      headers,
      body: '{"resourceType":',
    });
    assert.equal(response.status, 400);
  });

  void it('healthz and metrics respond', async () => {
    const health = await fetch(url('/healthz'));
    assert.equal(health.status, 200);

    const metrics = await (await fetch(url('/metrics'))).text();
    assert.match(metrics, /monitormed_subscription_deliveries_total\{method="PUT"\} [1-9]/);
    assert.match(metrics, /monitormed_analyze_jobs_enqueued_total [1-9]/);
    assert.match(metrics, /monitormed_subscription_deliveries_rejected_total\{reason="invalid"\} [1-9]/);
  });

  void it('unknown route gets 404 OperationOutcome', async () => {
    const response = await fetch(url('/nowhere'));
    assert.equal(response.status, 404);
    const outcome = (await response.json()) as { resourceType: string };
    assert.equal(outcome.resourceType, 'OperationOutcome');
  });

  void it('start fails clearly when Redis is down', async () => {
    // Port 9 (discard) is closed on loopback, so the connection is refused.
    const offline = { ...config, redisUrl: 'redis://127.0.0.1:9' };
    await assert.rejects(
      startFhirServerExt({ config: offline, port: 0, skipSubscription: true, queueTimeoutMs: 1_000 }),
      (err: unknown) => err instanceof TimeoutError && /Redis at redis:\/\/127\.0\.0\.1:9/.test(err.message)
    );
  });

  void it('close is safe twice', async () => {
    const extra = await startFhirServerExt({ config, port: 0, skipSubscription: true, queuePrefix });
    await extra.close();
    await extra.close();
    await assert.rejects(fetch(`http://127.0.0.1:${extra.port}/healthz`));
  });
});
