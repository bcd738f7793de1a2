/**
 * The demo over the real stack. Its drift verdict: the scenario shifts the imaging model's scores from
 * the injected day on, and only that model may be reported as drifting, and only from that day. Its
 * SMART launch: the authorization server, the EHR simulator and the app's launch page respond over HTTP,
 * checked without a browser (smart-app's own e2e test drives the full launch in Chromium).
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
      ports: { mllp: 0, listenerHttp: 0, fhirServerExt: 0, smartApp: 0, authServer: 0 },
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

  void it('publishes the authorization server discovery', async () => {
    const issuer = demoUrl(run, 'authServer');
    const discovery = await getJson(`${issuer}/.well-known/openid-configuration`);
    assert.equal(discovery['issuer'], issuer);
    assert.equal(discovery['authorization_endpoint'], `${issuer}/authorize`);
    assert.equal(discovery['token_endpoint'], `${issuer}/token`);
    assert.equal(typeof discovery['jwks_uri'], 'string');

    const jwks = await getJson(String(discovery['jwks_uri']));
    assert.ok(Array.isArray(jwks['keys']), 'JWKS has a keys array');
    assert.ok((jwks['keys'] as unknown[]).length > 0, 'JWKS has at least one key');
  });

  void it('relays the SMART configuration', async () => {
    const issuer = demoUrl(run, 'authServer');
    const configuration = await getJson(demoUrl(run, 'smartConfiguration'));
    assert.equal(configuration['issuer'], issuer);
    assert.equal(configuration['authorization_endpoint'], `${issuer}/authorize`);
    assert.equal(configuration['token_endpoint'], `${issuer}/token`);
  });

  void it('prefills the EHR simulator patient', async () => {
    const ehrUrl = new URL(demoUrl(run, 'ehrSimulator'));
    const patient = ehrUrl.searchParams.get('patient');
    assert.ok(patient !== null, 'the EHR simulator URL names a demo patient');
    assert.notEqual(patient, '');

    const response = await fetch(ehrUrl);
    assert.equal(response.status, 200);
    const page = await response.text();
    assert.match(page, new RegExp(`value="${patient}"`));
  });

  void it('creates an EHR launch for the app', async () => {
    const ehrUrl = new URL(demoUrl(run, 'ehrSimulator'));
    const patient = ehrUrl.searchParams.get('patient');
    const response = await fetch(`${ehrUrl.origin}/ehr/launch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ patient }),
    });
    assert.equal(response.status, 201);
    const body = (await response.json()) as { launch: string; launchUrl: string };

    const launchUrl = new URL(body.launchUrl);
    assert.equal(`${launchUrl.origin}${launchUrl.pathname}`, demoUrl(run, 'standaloneLaunch'));
    assert.equal(launchUrl.searchParams.get('launch'), body.launch);
    assert.equal(launchUrl.searchParams.get('iss'), `${demoUrl(run, 'smartApp')}/fhir`);

    const launchPage = await fetch(launchUrl);
    assert.equal(launchPage.status, 200);
    assert.match(launchPage.headers.get('content-type') ?? '', /text\/html/);
  });

  void it('rejects FHIR reads without a token', async () => {
    const response = await fetch(`${demoUrl(run, 'smartApp')}/fhir/Patient`);
    assert.equal(response.status, 401);
  });

  void it('serves CDS Hooks discovery', async () => {
    const discovery = await getJson(demoUrl(run, 'cdsHooksDiscovery'));
    assert.ok(Array.isArray(discovery['services']), 'discovery has a services array');
    assert.ok((discovery['services'] as unknown[]).length > 0, 'at least one CDS service');
  });

  void it('serves the listener metrics and health', async () => {
    const metrics = await fetch(demoUrl(run, 'listenerMetrics'));
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^# HELP /m);

    const health = await fetch(demoUrl(run, 'listenerHealth'));
    assert.equal(health.status, 200);
  });
});

function demoUrl(demo: DemoRun, name: string): string {
  const url = demo.summary.urls[name];
  assert.ok(url !== undefined, `the demo summary has no ${name} URL`);
  return url;
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  const response = await fetch(url, { headers: { accept: 'application/json' } });
  assert.equal(response.status, 200, `GET ${url}`);
  return (await response.json()) as Record<string, unknown>;
}
