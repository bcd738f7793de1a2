import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { createLogger } from '@monitormed/common';
import type { SmartAppClientConfig } from './client/launch-config.js';
import { MissingAssetsError } from './missing-assets-error.js';
import { startSmartApp, type RunningSmartApp } from './server.js';
import { closedPort } from './test-support.js';

void describe('smart-app server', () => {
  let distDir: string;
  let app: RunningSmartApp;

  before(async () => {
    distDir = await mkdtemp(join(tmpdir(), 'monitormed-smart-app-'));
    const deadPort = await closedPort();
    app = await startSmartApp({
      host: '127.0.0.1',
      port: 0,
      fhirUpstreamUrl: `http://127.0.0.1:${deadPort}/fhir`,
      distDir,
      build: 'if-missing',
      logger: createLogger('smart-app-test', 'silent'),
    });
  });

  after(async () => {
    await app.close();
    await rm(distDir, { recursive: true, force: true });
  });

  void it('builds the page into an empty dist', async () => {
    assert.equal(app.assets, 'built');
    const response = await fetch(`${app.url}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await response.text(), /<div id="root">/);
  });

  void it('rejects writes through the proxy', async () => {
    const response = await fetch(`${app.url}/fhir/Patient`, { method: 'POST', body: '{}' });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'GET, HEAD');
    const outcome = (await response.json()) as OperationOutcome;
    assert.equal(outcome.resourceType, 'OperationOutcome');
    assert.equal(outcome.issue[0]?.code, 'not-supported');
  });

  void it('forwards only POST of two operations', async () => {
    const respond = await fetch(`${app.url}/fhir/Flag/f1/$respond`, { method: 'POST', body: '{}' });
    // The method guard lets it through, so the bearer token check responds with 401.
    assert.equal(respond.status, 401);
    const report = await fetch(`${app.url}/fhir/Device/d1/$compliance-report`, {
      method: 'POST',
      body: '{}',
    });
    assert.equal(report.status, 401);
    const otherDeviceOperation = await fetch(`${app.url}/fhir/Device/d1/$drift`, {
      method: 'POST',
      body: '{}',
    });
    assert.equal(otherDeviceOperation.status, 405);

    const otherOperation = await fetch(`${app.url}/fhir/Flag/f1/$explain`, { method: 'POST', body: '{}' });
    assert.equal(otherOperation.status, 405);
    const flagUpdate = await fetch(`${app.url}/fhir/Flag/f1`, { method: 'PUT', body: '{}' });
    assert.equal(flagUpdate.status, 405);
    const respondPut = await fetch(`${app.url}/fhir/Flag/f1/$respond`, { method: 'PUT', body: '{}' });
    assert.equal(respondPut.status, 405);
    assert.equal(respondPut.headers.get('allow'), 'GET, HEAD, POST');
  });

  void it('rejects reads without a token', async () => {
    const response = await fetch(`${app.url}/fhir/Patient/1`);
    assert.equal(response.status, 401);
    assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="fhir"');
    const outcome = (await response.json()) as OperationOutcome;
    assert.equal(outcome.issue[0]?.code, 'login');
  });

  void it('answers 502 when upstream is down', async () => {
    const response = await fetch(`${app.url}/fhir/Patient/1`, { headers: { authorization: 'Bearer test' } });
    assert.equal(response.status, 502);
    assert.match(response.headers.get('content-type') ?? '', /application\/fhir\+json/);
    const outcome = (await response.json()) as OperationOutcome;
    const issue = outcome.issue[0];
    assert.ok(issue);
    assert.equal(issue.code, 'transient');
    assert.match(issue.details?.text ?? '', /ECONNREFUSED/);
  });

  void it('answers 404 for unknown paths', async () => {
    const response = await fetch(`${app.url}/no-such-page`);
    assert.equal(response.status, 404);
    assert.match(await response.text(), /launch\.html/);
  });

  void it('redirects /launch with its query', async () => {
    const response = await fetch(`${app.url}/launch?iss=x&launch=y`, { redirect: 'manual' });
    assert.equal(response.status, 302);
    assert.equal(response.headers.get('location'), '/launch.html?iss=x&launch=y');
  });

  void it('publishes the client configuration', async () => {
    const response = await fetch(`${app.url}/smart-app-config.json`);
    const config = (await response.json()) as SmartAppClientConfig;
    assert.equal(config.clientId, 'monitormed-smart-app');
    assert.equal(config.defaultIss, `${app.url}/fhir`);
    assert.match(config.ehrScope, /^launch .*offline_access/);
    // The model views need no patient: user-level scopes only.
    assert.doesNotMatch(config.modelsScope, /launch|patient\//);
    assert.match(config.modelsScope, /user\/Device\.rs/);
  });

  void it('relays pages through itself', async () => {
    // A stub upstream that returns a search Bundle whose links name the upstream's own base.
    const upstream = createServer((req, res) => {
      const base = `http://127.0.0.1:${String((upstream.address() as AddressInfo).port)}/fhir`;
      res.setHeader('Content-Type', 'application/fhir+json');
      res.end(
        JSON.stringify({
          resourceType: 'Bundle',
          type: 'searchset',
          link: [{ relation: 'next', url: `${base}?_getpages=abc&_getpagesoffset=50` }],
          entry: [{ fullUrl: `${base}/Device/7`, resource: { resourceType: 'Device', id: '7' } }],
          meta: { source: req.url },
        })
      );
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const relay = await startSmartApp({
      host: '127.0.0.1',
      port: 0,
      fhirUpstreamUrl: `http://127.0.0.1:${String((upstream.address() as AddressInfo).port)}/fhir`,
      distDir,
      build: 'never',
      logger: createLogger('smart-app-test', 'silent'),
    });
    try {
      const response = await fetch(`${relay.url}/fhir/Device?_count=50`, {
        headers: { authorization: 'Bearer test-token' },
      });
      assert.equal(response.status, 200);
      const bundle = (await response.json()) as Bundle;
      assert.equal(bundle.link?.[0]?.url, `${relay.url}/fhir?_getpages=abc&_getpagesoffset=50`);
      assert.equal(bundle.entry?.[0]?.fullUrl, `${relay.url}/fhir/Device/7`);
      assert.equal(bundle.meta?.source, '/fhir/Device?_count=50');
    } finally {
      await relay.close();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });

  void it('reports health', async () => {
    const response = await fetch(`${app.url}/healthz`);
    assert.deepEqual(await response.json(), { status: 'ok' });
  });

  void it('closes twice without error', async () => {
    const second = await startSmartApp({
      host: '127.0.0.1',
      port: 0,
      distDir,
      build: 'never',
      logger: createLogger('smart-app-test', 'silent'),
    });
    assert.equal(second.assets, 'existing');
    await second.close();
    await second.close();
    await assert.rejects(fetch(`${second.url}/healthz`));
  });

  void it('refuses to serve a missing build', async () => {
    const emptyDir = await mkdtemp(join(tmpdir(), 'monitormed-smart-app-empty-'));
    try {
      await assert.rejects(
        startSmartApp({
          port: 0,
          distDir: emptyDir,
          build: 'never',
          logger: createLogger('smart-app-test', 'silent'),
        }),
        (error: unknown) =>
          error instanceof MissingAssetsError && /npm run build -w smart-app/.test(error.message)
      );
    } finally {
      await rm(emptyDir, { recursive: true, force: true });
    }
  });
});
