import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requireFhir, requireMongo } from '../hl7-listener/src/test-support/peers.js';
import { runKill9 } from './hl7-kill9.js';

void describe('listener kill -9 fault test', () => {
  // It took 37 s on a 2-core machine at load average 13 to 15. The 10,000-message run is
  // `npx tsx bench/hl7-kill9.ts` (bench/results/hl7-kill9.md).
  void it('keeps every ACKed message once', async () => {
    // Fail with a clear message when a peer is down, before the listener child starts.
    await requireFhir();
    const mongo = await requireMongo();
    await mongo.client.close();

    const result = await runKill9({
      messages: 200,
      connections: 4,
      patients: 40,
      concurrency: 8,
      waitMs: 150_000,
      killAt: 0.5,
      mode: 'immediate',
      keepDatabase: false,
    });
    assert.equal(result.acknowledged, 200);
    assert.ok(result.killedAfterAcks >= 100, 'the listener was not killed midway');
    assert.equal(result.unfinished, 0, 'messages left unprocessed');
    assert.deepEqual(result.missing, [], 'ACKed messages missing from HAPI');
    assert.deepEqual(result.duplicated, [], 'ACKed messages duplicated in HAPI');
    assert.ok(result.passed);
  });
});
