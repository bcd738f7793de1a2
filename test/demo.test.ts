/**
 * The demo's drift verdict over the real stack: the scenario shifts the imaging model's scores from
 * the injected day on, and only that model may be reported as drifting, and only from that day.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { runDemo, type DemoRun } from '../scripts/demo/run-demo.js';

const RESULTS_PER_DAY = 40;

void describe('demo drift verdict', { timeout: 900_000 }, () => {
  let run: DemoRun;

  before(async () => {
    const runId = randomUUID().slice(0, 8);
    run = await runDemo({
      startPeers: false,
      patients: 5,
      days: 10,
      driftDay: 6,
      resultsPerModelPerDay: RESULTS_PER_DAY,
      mongoDatabase: `monitormed_demo_test_${runId}`,
      queuePrefix: `monitormed-demo-test-${runId}`,
      ports: { mllp: 0, fhirServerExt: 0, smartApp: 0 },
      subscription: { owner: `demo-test-${runId}`, removeOnClose: true },
      log: () => undefined,
    });
  });

  after(async () => {
    await run.close();
  });

  void it('acknowledges every message with AA', () => {
    assert.ok(run.summary.messagesSent > 0);
    assert.equal(run.summary.acks.AA, run.summary.messagesSent);
    assert.equal(run.summary.acks.AE, 0);
    assert.equal(run.summary.acks.AR, 0);
  });

  void it('writes labelled observations and flags', () => {
    assert.ok(run.summary.observations >= run.summary.messagesSent + run.summary.fhirDirectWrites);
    assert.ok(run.summary.flags > 0);
  });

  void it('counts every result in its window', () => {
    for (const [modelId, model] of Object.entries(run.summary.models)) {
      assert.equal(model.windows.length, run.summary.days, modelId);
      for (const window of model.windows) {
        assert.equal(window.n, RESULTS_PER_DAY, `${modelId} ${window.window}`);
      }
    }
  });

  void it('detects drift of the drifted model after the injected day', () => {
    const injected = run.summary.driftInjected;
    assert.ok(injected !== null);
    const drifted = run.summary.models[injected.modelId];
    assert.ok(drifted !== undefined);
    assert.equal(drifted.driftDetected, true);
    assert.ok(drifted.firstDriftWindow !== null);
    assert.ok(drifted.firstDriftWindow >= injected.startWindow);

    const before = drifted.windows.filter((w) => w.window < injected.startWindow);
    assert.ok(
      before.every((w) => w.status !== 'drift'),
      'no drift before the injected day'
    );
  });

  void it('detects no drift in the stable model', () => {
    const injected = run.summary.driftInjected;
    const stable = Object.entries(run.summary.models).filter(([modelId]) => modelId !== injected?.modelId);
    assert.equal(stable.length, 1);
    for (const [modelId, model] of stable) {
      assert.equal(model.driftDetected, false, modelId);
      assert.ok(
        model.windows.some((w) => w.status === 'no-drift'),
        `${modelId} has tested windows`
      );
    }
  });
});
