/**
 * End-to-end test on the real stack: resources written to HAPI FHIR, the smart-app server proxying to it,
 * and Debian's Chromium driven by playwright-core rendering the page.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Device, Flag, Observation, Patient, Resource } from '@medplum/fhirtypes';
import {
  AI_CONFIDENCE_EXTENSION,
  AIAST,
  buildModelDevice,
  createLogger,
  DRIFT_EXTENSION,
  FLAG_CODES,
  FLAG_DETAIL_EXTENSION,
  FLAG_ID_SYSTEM,
  loadConfig,
  loadModelCatalog,
  UNCERTAINTY_EXTENSION,
} from '@monitormed/common';
import axe from 'axe-core';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startSmartApp, type RunningSmartApp } from './server.js';
import { closedPort } from './test-support.js';

const CHROMIUM_PATH = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOT_DIR = fileURLToPath(new URL('../test-results/', import.meta.url));
const PAGE_TIMEOUT_MS = 15_000;

const fhirBaseUrl = loadConfig().fhirBaseUrl;
const runId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

/** References of the FHIR resources this run created, in creation order. */
const created: string[] = [];

async function fhirRequest<T>(method: string, path: string, body?: Resource): Promise<T> {
  const response = await fetch(`${fhirBaseUrl}/${path}`, {
    method,
    headers: { 'Content-Type': 'application/fhir+json', Accept: 'application/fhir+json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(PAGE_TIMEOUT_MS),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`${method} ${path} failed with HTTP ${response.status}: ${text.slice(0, 500)}`);
  }
  return (text === '' ? {} : JSON.parse(text)) as T;
}

async function createResource<T extends Resource>(resource: T): Promise<T & { id: string }> {
  const stored = await fhirRequest<T>('POST', resource.resourceType, resource);
  assert.ok(stored.id, `HAPI returned a ${resource.resourceType} without id`);
  created.push(`${resource.resourceType}/${stored.id}`);
  return stored as T & { id: string };
}

function aiObservation(
  patientId: string,
  device: Device & { id: string },
  effectiveDateTime: string,
  probability: number,
  extra: Observation['extension'] = []
): Observation {
  const model = loadModelCatalog()[0];
  assert.ok(model, 'The demo model catalog is empty');
  return {
    resourceType: 'Observation',
    meta: { security: [AIAST] },
    status: 'final',
    code: { coding: [model.outputCode] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime,
    valueQuantity: { value: probability, unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
    device: { reference: `Device/${device.id}` },
    interpretation: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
            code: probability >= model.positiveThreshold ? 'POS' : 'NEG',
          },
        ],
      },
    ],
    extension: [
      { url: AI_CONFIDENCE_EXTENSION, valueDecimal: Math.max(probability, 1 - probability) },
      ...extra,
    ],
  };
}

async function assertHapiReachable(): Promise<void> {
  try {
    const response = await fetch(`${fhirBaseUrl}/metadata`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(response.status, 200);
  } catch (error) {
    assert.fail(
      `HAPI FHIR is not reachable at ${fhirBaseUrl} (${(error as Error).message}). Start it with "peers/peers.sh start hapi".`
    );
  }
}

/** What setUp() created and started, for the tests to use. */
interface Fixture {
  app: RunningSmartApp;
  unreachableApp: RunningSmartApp;
  browser: Browser;
  patientId: string;
  emptyPatientId: string;
  flaggedId: string;
  cleanId: string;
  modelName: string;
}

async function openPage(browser: Browser, url: string, screenshotName: string): Promise<Page> {
  const page = await browser.newPage();
  page.setDefaultTimeout(PAGE_TIMEOUT_MS);
  await page.goto(url);

  // Every outcome ends in a heading other than the page title; wait for it so the screenshot shows it.
  await page.locator('main h2, main table').first().waitFor();
  await page.screenshot({ path: join(SCREENSHOT_DIR, screenshotName), fullPage: true });
  return page;
}

async function seriousAxeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: axe.source });
  return page.evaluate(async () => {
    const result = await (window as unknown as { axe: typeof axe }).axe.run();
    return result.violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map((violation) => `${violation.id}: ${violation.help}`);
  });
}

void describe('smart-app in Chromium', () => {
  let fixture: Fixture | undefined;
  let setupError: unknown;

  // Cleanup steps in the order they were registered; after() runs them in reverse.
  const cleanups: { name: string; run: () => Promise<unknown> }[] = [];

  // A setup failure (peer down, Chromium missing) is rethrown by every test, so each one is reported as
  // failed with the cause instead of cancelled.
  const requireFixture = (): Fixture => {
    if (fixture === undefined) {
      throw setupError instanceof Error ? setupError : new Error(`Test setup failed: ${String(setupError)}`);
    }
    return fixture;
  };

  before(async () => {
    try {
      fixture = await setUp();
    } catch (error) {
      setupError = error;
    }
  });

  async function setUp(): Promise<Fixture> {
    assert.ok(
      existsSync(CHROMIUM_PATH),
      `Chromium is missing at ${CHROMIUM_PATH}: install it with "apt-get install -y chromium".`
    );
    await assertHapiReachable();
    await mkdir(SCREENSHOT_DIR, { recursive: true });

    // A model id of its own, so this run never adds a second Device for a catalog model.
    const catalogModel = loadModelCatalog()[0];
    assert.ok(catalogModel);
    const modelName = `Smart-app test model ${runId}`;
    const device = await createResource(
      buildModelDevice({
        ...catalogModel,
        modelId: `smart-app-test-${runId}`,
        name: modelName,
        version: '9.9.1',
      })
    );

    const patient = await createResource<Patient>({
      resourceType: 'Patient',
      name: [{ family: 'Testpatient', given: ['Smart'] }],
    });
    const patientId = patient.id;
    const emptyPatient = await createResource<Patient>({
      resourceType: 'Patient',
      name: [{ family: 'Noresults' }],
    });
    const emptyPatientId = emptyPatient.id;

    const flagged = await createResource(
      aiObservation(patientId, device, '2026-03-14T10:22:00Z', 0.55, [
        {
          url: UNCERTAINTY_EXTENSION,
          extension: [
            { url: 'method', valueCode: 'entropy' },
            { url: 'value', valueDecimal: 0.9928 },
            { url: 'analyzerVersion', valueString: 'test' },
          ],
        },
        {
          url: DRIFT_EXTENSION,
          extension: [
            { url: 'test', valueCode: 'ks' },
            { url: 'statistic', valueDecimal: 0.41 },
            { url: 'pValue', valueDecimal: 0.003 },
            { url: 'threshold', valueDecimal: 0.05 },
            { url: 'window', valueString: '2026-03-14' },
            { url: 'detected', valueBoolean: true },
          ],
        },
      ])
    );
    const flaggedId = flagged.id;
    const clean = await createResource(aiObservation(patientId, device, '2026-03-13T08:00:00Z', 0.08));
    const cleanId = clean.id;

    await createResource<Flag>({
      resourceType: 'Flag',
      meta: { security: [AIAST] },
      identifier: [{ system: FLAG_ID_SYSTEM, value: `${flaggedId}|${FLAG_CODES.modelDrift.code}` }],
      status: 'active',
      category: [
        { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'clinical' }] },
      ],
      code: { coding: [FLAG_CODES.modelDrift] },
      subject: { reference: `Patient/${patientId}` },
      extension: [{ url: FLAG_DETAIL_EXTENSION, valueReference: { reference: `Observation/${flaggedId}` } }],
    });

    const distDir = await mkdtemp(join(tmpdir(), 'monitormed-smart-app-e2e-'));
    cleanups.push({ name: 'build folder', run: () => rm(distDir, { recursive: true, force: true }) });
    const logger = createLogger('smart-app-test', 'silent');
    const app = await startSmartApp({
      host: '127.0.0.1',
      port: 0,
      fhirUpstreamUrl: fhirBaseUrl,
      distDir,
      build: 'always',
      logger,
    });
    cleanups.push({ name: 'smart-app', run: () => app.close() });

    const unreachableApp = await startSmartApp({
      host: '127.0.0.1',
      port: 0,
      fhirUpstreamUrl: `http://127.0.0.1:${await closedPort()}/fhir`,
      distDir,
      build: 'never',
      logger,
    });
    cleanups.push({ name: 'smart-app without upstream', run: () => unreachableApp.close() });

    const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    cleanups.push({ name: 'Chromium', run: () => browser.close() });

    return { app, unreachableApp, browser, patientId, emptyPatientId, flaggedId, cleanId, modelName };
  }

  after(async () => {
    for (const step of cleanups.reverse()) {
      await step.run().catch((error: unknown) => {
        process.stderr.write(`Cleanup of ${step.name} failed: ${(error as Error).message}\n`);
      });
    }

    // Delete what the run wrote in reverse order, so Flags go before the Observations they point at.
    for (const reference of created.reverse()) {
      await fhirRequest('DELETE', reference).catch((error: unknown) => {
        process.stderr.write(`Cleanup of ${reference} failed: ${(error as Error).message}\n`);
      });
    }
  });

  void it('lists results with flag and drift', async () => {
    const f = requireFixture();
    const page = await openPage(f.browser, `${f.app.url}/?patient=${f.patientId}`, 'patient-results.png');

    const rows = page.locator('table.results tbody tr');
    assert.equal(await rows.count(), 2);
    assert.equal(await rows.nth(0).getAttribute('data-observation-id'), f.flaggedId);
    assert.equal(await rows.nth(1).getAttribute('data-observation-id'), f.cleanId);

    const flaggedRow = page.locator(`tr[data-observation-id="${f.flaggedId}"]`);
    const flaggedText = await flaggedRow.innerText();
    assert.match(flaggedText, new RegExp(f.modelName));
    assert.match(flaggedText, /v9\.9\.1/);
    assert.match(flaggedText, /2026-03-14 10:22 UTC/);
    assert.match(flaggedText, /0\.550/);
    assert.match(flaggedText, /Positive/);
    assert.match(flaggedText, /0\.993/);
    assert.match(flaggedText, /Drift detected \(p = 0\.003, window 2026-03-14\)/);
    assert.equal(await flaggedRow.locator('.flag').first().innerText(), FLAG_CODES.modelDrift.display);

    const cleanText = await page.locator(`tr[data-observation-id="${f.cleanId}"]`).innerText();
    assert.match(cleanText, /0\.080/);
    assert.match(cleanText, /Negative/);
    assert.match(cleanText, /0\.920/);
    assert.match(cleanText, /Not evaluated/);
    assert.match(cleanText, /None/);

    assert.match(await page.locator('.patient').innerText(), /Smart Testpatient/);
    assert.deepEqual(await seriousAxeViolations(page), []);
    await page.close();
  });

  void it('explains how to launch', async () => {
    const f = requireFixture();
    const page = await openPage(f.browser, `${f.app.url}/`, 'no-patient.png');
    assert.equal(await page.locator('main h2').innerText(), 'No patient selected');
    assert.match(await page.locator('main').innerText(), /\?patient=/);
    assert.deepEqual(await seriousAxeViolations(page), []);
    await page.close();
  });

  void it('reports a patient without results', async () => {
    const f = requireFixture();
    const page = await openPage(f.browser, `${f.app.url}/?patient=${f.emptyPatientId}`, 'no-results.png');
    assert.equal(await page.locator('main h2').innerText(), 'No AI results');
    await page.close();
  });

  void it('reports an unknown patient', async () => {
    const f = requireFixture();
    const page = await openPage(f.browser, `${f.app.url}/?patient=missing-${runId}`, 'patient-not-found.png');
    assert.equal(await page.getByRole('alert').locator('h2').innerText(), 'Patient not found');
    await page.close();
  });

  void it('reports an unreachable FHIR server', async () => {
    const f = requireFixture();
    const page = await openPage(
      f.browser,
      `${f.unreachableApp.url}/?patient=${f.patientId}`,
      'fhir-unreachable.png'
    );
    assert.equal(await page.getByRole('alert').locator('h2').innerText(), 'FHIR server unreachable');
    await page.close();
  });

  void it('proxies FHIR reads', async () => {
    const f = requireFixture();
    const response = await fetch(`${f.app.url}/fhir/Patient/${f.patientId}`);
    assert.equal(response.status, 200);
    const patient = (await response.json()) as Patient;
    assert.equal(patient.id, f.patientId);
  });
});
