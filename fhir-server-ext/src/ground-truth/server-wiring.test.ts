/**
 * fhir-server-ext with the ground-truth option: the hook is served, its Subscriptions are active on the
 * real HAPI while the service runs, and close() deletes them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Bundle, Subscription } from '@medplum/fhirtypes';
import { connectMongo, loadConfig } from '@monitormed/common';
import { startFhirServerExt } from '../server.js';
import { SECRET_HEADER, SUBSCRIPTION_OWNER_SYSTEM } from '../subscription.js';
import { GROUND_TRUTH_HOOK_PATH } from './hook.js';

const runId = randomBytes(4).toString('hex');
const config = { ...loadConfig(), mongoDatabase: `monitormed_test_gtw_${runId}` };

async function ownedSubscriptions(owner: string): Promise<Subscription[]> {
  const response = await fetch(
    `${config.fhirBaseUrl}/Subscription?_tag=${encodeURIComponent(`${SUBSCRIPTION_OWNER_SYSTEM}|${owner}`)}`,
    { headers: { 'Cache-Control': 'no-cache' } }
  );
  const bundle = (await response.json()) as Bundle<Subscription>;
  return (bundle.entry ?? []).flatMap((entry) => (entry.resource === undefined ? [] : [entry.resource]));
}

void describe('fhir-server-ext ground-truth option', () => {
  void it('serves the hook and owns the Subscriptions', async () => {
    const owner = `gt-wiring-${runId}`;
    const service = await startFhirServerExt({
      config,
      port: 0,
      skipSubscription: true,
      queuePrefix: `test-gtw-${runId}`,
      groundTruth: {
        subscriptionOwner: owner,
        criteriaSuffix: `&_tag=https://monitormed.dev/fhir/CodeSystem/test-run|gtw-${runId}`,
        removeSubscriptionsOnClose: true,
        horizonSweepIntervalMs: 0,
      },
    });

    try {
      const base = `http://127.0.0.1:${service.port}${GROUND_TRUTH_HOOK_PATH}`;
      const invalid = await fetch(`${base}/Condition/1`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/fhir+json', [SECRET_HEADER]: config.subscriptionSecret },
        body: JSON.stringify({ resourceType: 'Condition', id: '1' }),
      });
      assert.equal(invalid.status, 400, 'a Condition without meta.versionId is rejected');

      for (const name of ['reports', 'observations', 'conditions', 'ai-results']) {
        const [subscription] = await ownedSubscriptions(`${owner}-${name}`);
        assert.equal(subscription?.status, 'active', `the ${name} Subscription is active`);
        assert.equal(subscription.channel.endpoint, base);
      }
    } finally {
      await service.close();
    }

    for (const name of ['reports', 'observations', 'conditions', 'ai-results']) {
      assert.deepEqual(
        await ownedSubscriptions(`${owner}-${name}`),
        [],
        `the ${name} Subscription is deleted`
      );
    }

    // The label store created its indexes in this run's database.
    const mongo = await connectMongo(config);
    await mongo.db.dropDatabase();
    await mongo.client.close();
  });
});
