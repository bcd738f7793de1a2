/**
 * The demo over the real stack. Its drift verdict: the scenario shifts the imaging model's scores from
 * the injected day on, and only that model may be reported as drifting, and only from that day. Its
 * SMART launch: the authorization server, the EHR simulator and the app's launch page respond over HTTP.
 * Then Chromium runs an EHR launch of the demo patient with the most Flags and opens the inventory and
 * the drifted model's dashboard. Last, it runs a standalone launch of the same patient through the
 * patient picker. All of it uses the Synthea patients and the data that the scenario produced.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { flaggedObservationId } from '@monitormed/fhir-server-ext';
import type { Browser, Page } from 'playwright-core';
import { runDemo, type DemoRun } from '../scripts/demo/run-demo.js';
import {
  ARTIFACT_DIR,
  launchChromium,
  openView,
  PAGE_TIMEOUT_MS,
  seriousAxeViolations,
} from '../smart-app/src/browser-support.js';
import { findFlaggedPatient, launchFromEhr, launchStandalone } from './demo-browser.js';

const RESULTS_PER_DAY = 40;

void describe('demo drift verdict', { timeout: 900_000 }, () => {
  let run: DemoRun;
  // The demo loads the same Synthea patients on every run, so this run's results are selected by time.
  const startedAt = new Date();

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

  // One page for the Chromium tests, launched by the first: the views share the SMART session.
  let browser: Browser | undefined;
  let page: Page | undefined;
  const browserPage = async (): Promise<Page> => {
    browser ??= await launchChromium();
    page ??= await browser.newPage();
    page.setDefaultTimeout(PAGE_TIMEOUT_MS);
    return page;
  };

  after(async () => {
    await browser?.close();
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

  void it('writes each AI result back a few times', async () => {
    const versions = await aiObservationVersions(demoUrl(run, 'fhir'), run.summary.patientIds, startedAt);
    assert.ok(versions.length >= run.summary.messagesSent, `${versions.length} AI Observations read`);
    // Created, written back with the uncertainty, then with the drift verdict and again if the verdict or
    // reference changes. A write-back analysed as a new result, or a drift extension rewritten at each
    // evaluation of its window, shows as a dozen versions or more.
    const maxVersion = Math.max(...versions);
    assert.ok(maxVersion <= 5, `an AI Observation has ${maxVersion} versions: its write-backs repeat`);
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

  void it('patient view shows the Flags', async () => {
    const page = await browserPage();
    const patient = await findFlaggedPatient(run.summary.urls['fhir'] ?? '', run.summary.patientIds);
    await launchFromEhr(page, demoUrl(run, 'ehrSimulator'), patient.patientId);
    await page.screenshot({ path: join(ARTIFACT_DIR, 'demo-patient.png'), fullPage: true });

    // The view shows the newest page of results (50 on HAPI) with a note when there are more.
    const rows = await page.locator('table.results tbody tr').count();
    assert.equal(rows, Math.min(patient.results, 50));
    const note = page.locator('p.note', { hasText: 'Only the newest' });
    assert.equal(await note.count(), patient.results > 50 ? 1 : 0);

    // Every active Flag of a shown result appears on its row with its reason.
    const shownObservationIds = new Set(
      await page
        .locator('table.results tbody tr')
        .evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-observation-id')))
    );
    const flagsOfShown = patient.flags.filter((flag) =>
      shownObservationIds.has(flaggedObservationId(flag) ?? '')
    );
    assert.ok(
      flagsOfShown.length > 0,
      `none of the ${patient.flags.length} active Flags is on a shown result`
    );
    for (const flag of flagsOfShown) {
      const row = page.locator(`tr[data-observation-id="${flaggedObservationId(flag) ?? ''}"]`);
      const display = flag.code.coding?.[0]?.display ?? '';
      assert.ok(
        (await row.locator('.flag', { hasText: display }).count()) >= 1,
        `Flag/${flag.id ?? ''} on its row`
      );
    }
    assert.deepEqual(await seriousAxeViolations(page), [], 'axe on the patient view');
  });

  void it('acknowledge records a response', async () => {
    const page = await browserPage();
    const item = page
      .locator('.flag-responses li', { has: page.getByRole('button', { name: 'Acknowledge' }) })
      .first();
    const observationId = await item.locator('xpath=ancestor::tr').getAttribute('data-observation-id');
    await item.getByRole('button', { name: 'Acknowledge', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    // The reason is optional for an acknowledgement.
    await dialog.getByRole('button', { name: 'Record acknowledgement' }).click();

    const recorded = page.locator(`tr[data-observation-id="${observationId ?? ''}"] .flag-response`).first();
    await recorded.waitFor();
    assert.match(await recorded.innerText(), /^Acknowledged by Practitioner\//);
    await page.screenshot({ path: join(ARTIFACT_DIR, 'demo-patient-acknowledged.png'), fullPage: true });
  });

  void it('inventory shows model statuses', async () => {
    const page = await browserPage();
    await openView(page, '#/inventory', 'table.inventory');
    const injected = run.summary.driftInjected;
    assert.ok(injected !== null);
    for (const [modelId, model] of Object.entries(run.summary.models)) {
      const row = page.locator(`tr[data-device-id="${model.deviceId ?? ''}"]`);
      assert.equal(await row.count(), 1, `inventory row of ${modelId}`);
      // Each status comes from one $monitoring-summary per AI Device, four at a time.
      await row.locator('.status').waitFor({ timeout: 90_000 });
      const status = await row.locator('.status').innerText();
      if (modelId === injected.modelId) {
        assert.equal(status, 'critical', `${modelId} drifted`);
      } else {
        assert.notEqual(status, 'critical', `${modelId} is stable`);
      }
      assert.equal(await row.locator('td.number').innerText(), String(RESULTS_PER_DAY * run.summary.days));
    }
    await page.screenshot({ path: join(ARTIFACT_DIR, 'demo-inventory.png'), fullPage: true });
  });

  void it('dashboard plots the drift', async () => {
    const page = await browserPage();
    const injected = run.summary.driftInjected;
    assert.ok(injected !== null);
    const drifted = run.summary.models[injected.modelId];
    await openView(page, `#/models/${drifted?.deviceId ?? ''}`, '[data-chart=volume] .recharts-line-curve');

    assert.equal(await page.locator('[data-chart=volume] table tbody tr').count(), run.summary.days);
    const panel = page.locator('[data-drift-metric="output-drift-ks"]');
    assert.equal(await panel.locator('.recharts-line-curve').count(), 1);
    assert.equal(await panel.locator('.recharts-reference-line').count(), 1);
    const cells = await panel
      .locator('table tbody tr')
      .evaluateAll((trs) =>
        trs.map((tr) => [...tr.querySelectorAll('th, td')].map((cell) => cell.textContent.trim()))
      );
    for (const window of drifted?.windows ?? []) {
      const shownStatus = cells.find((row) => row[0] === window.window)?.at(-1);
      if (window.status === 'drift') {
        assert.equal(shownStatus, 'critical', `window ${window.window}`);
      } else if (window.status === 'no-drift') {
        assert.equal(shownStatus, 'ok', `window ${window.window}`);
      }
    }
    await page.screenshot({ path: join(ARTIFACT_DIR, 'demo-dashboard.png'), fullPage: true });
    assert.deepEqual(await seriousAxeViolations(page), [], 'axe on the dashboard');
  });

  void it('standalone launch picks a patient', async () => {
    // A new context has no SMART session, so the launch starts from sign-in.
    await browserPage();
    const context = await browser?.newContext();
    assert.ok(context !== undefined);
    try {
      const standalonePage = await context.newPage();
      standalonePage.setDefaultTimeout(PAGE_TIMEOUT_MS);
      const patient = await findFlaggedPatient(demoUrl(run, 'fhir'), run.summary.patientIds);
      await launchStandalone(
        standalonePage,
        demoUrl(run, 'standaloneLaunch'),
        demoUrl(run, 'fhir'),
        patient.patientId
      );

      assert.match(await standalonePage.locator('.patient').innerText(), new RegExp(patient.patientId));
      const rows = await standalonePage.locator('table.results tbody tr').count();
      assert.equal(rows, Math.min(patient.results, 50));
      assert.ok((await standalonePage.locator('table.results .flag').count()) >= 1, 'a Flag is shown');
      await standalonePage.screenshot({ path: join(ARTIFACT_DIR, 'demo-standalone.png'), fullPage: true });
    } finally {
      await context.close();
    }
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

/** Reads the version number of each AI-labelled Observation of the patients written since `since`. */
async function aiObservationVersions(
  fhirBaseUrl: string,
  patientIds: string[],
  since: Date
): Promise<number[]> {
  const query = new URLSearchParams({
    _security: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue|AIAST',
    subject: patientIds.map((id) => `Patient/${id}`).join(','),
    _lastUpdated: `ge${since.toISOString()}`,
    _elements: 'meta',
    _count: '200',
  });
  const versions: number[] = [];
  let next: string | undefined = `${fhirBaseUrl}/Observation?${query.toString()}`;
  while (next !== undefined) {
    const bundle = (await getJson(next)) as unknown as Bundle<Observation>;
    for (const entry of bundle.entry ?? []) {
      versions.push(Number(entry.resource?.meta?.versionId));
    }
    next = bundle.link?.find((link) => link.relation === 'next')?.url;
  }
  return versions;
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  const response = await fetch(url, { headers: { accept: 'application/json' } });
  assert.equal(response.status, 200, `GET ${url}`);
  return (await response.json()) as Record<string, unknown>;
}
