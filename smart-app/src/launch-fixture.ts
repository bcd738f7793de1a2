/**
 * Setup of the SMART launch tests: a Patient, a model Device, two AI results and a Flag in HAPI, and the
 * app, the authorization server (oidc-provider), fhir-server-ext and Chromium started on free ports.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Flag, Patient } from '@medplum/fhirtypes';
import {
  AIAST,
  buildModelDevice,
  createLogger,
  DRIFT_EXTENSION,
  FLAG_CODES,
  FLAG_DETAIL_EXTENSION,
  FLAG_ID_SYSTEM,
  loadModelCatalog,
  UNCERTAINTY_EXTENSION,
} from '@monitormed/common';
import { startFhirServerExt, type FhirServerExt } from '@monitormed/fhir-server-ext';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startAuthServer, type RunningAuthServer } from './auth-server/server.js';
import { launchChromium, PAGE_TIMEOUT_MS, type Surface } from './browser-support.js';
import { startSmartApp, type RunningSmartApp } from './server.js';
import {
  aiObservation,
  assertHapiReachable,
  createResource,
  deleteDeviceMetrics,
  deleteFound,
  runId,
  type Cleanup,
} from './test-support.js';

/**
 * Access token lifetime of this run. fhirclient refreshes a token that expires within 10 s, so with
 * 12 s every request made more than 2 s after the token was issued goes through a refresh.
 */
const ACCESS_TOKEN_TTL_S = 12;

/** Servers, browser and test data that {@link startLaunchFixture} started or wrote. */
export interface LaunchFixture {
  app: RunningSmartApp;
  auth: RunningAuthServer;
  fhirExt: FhirServerExt;
  browser: Browser;
  patientId: string;
  patientFamily: string;
  deviceId: string;
  flaggedId: string;
  cleanId: string;
  modelName: string;
}

/** Opens a page in a browser context of its own, so no login session or sessionStorage carries over. */
export async function newPage(browser: Browser): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(PAGE_TIMEOUT_MS);
  page.on('pageerror', (error) => {
    process.stderr.write(`Browser page error: ${error.message}\n`);
  });
  return { context, page };
}

/** Checks the patient view: the two results, newest first, with the flagged one's model, drift and Flag. */
export async function assertResults(surface: Surface, f: LaunchFixture): Promise<void> {
  // Wait for the table or a message, so a failure reports the page text instead of a timeout.
  try {
    await surface.locator('table.results, [role=alert], .notice').first().waitFor();
  } catch (error) {
    const text = await surface
      .locator('body')
      .innerText()
      .catch(() => '(no body)');
    throw new Error(`Neither results nor a message appeared; the page shows: ${text.slice(0, 800)}`, {
      cause: error,
    });
  }
  const rows = surface.locator('table.results tbody tr');
  if ((await rows.count()) === 0) {
    assert.fail(`The page shows no results table: ${await surface.locator('main').innerText()}`);
  }
  assert.equal(await rows.count(), 2);
  assert.equal(await rows.nth(0).getAttribute('data-observation-id'), f.flaggedId);
  assert.equal(await rows.nth(1).getAttribute('data-observation-id'), f.cleanId);

  const flaggedText = await surface.locator(`tr[data-observation-id="${f.flaggedId}"]`).innerText();
  assert.match(flaggedText, new RegExp(f.modelName));
  assert.match(flaggedText, /0\.550/);
  assert.match(flaggedText, /Drift detected \(p = 0\.003, window 2026-03-14\)/);
  const flag = surface.locator(`tr[data-observation-id="${f.flaggedId}"] .flag`).first();
  assert.equal(await flag.innerText(), FLAG_CODES.modelDrift.display);

  const cleanText = await surface.locator(`tr[data-observation-id="${f.cleanId}"]`).innerText();
  assert.match(cleanText, /0\.080/);
  assert.match(cleanText, /None/);
}

/**
 * Writes the test data to HAPI and starts the app, the authorization server, fhir-server-ext and
 * Chromium on free ports. Each step adds its undo to `cleanups`, which the caller runs last first.
 */
export async function startLaunchFixture(cleanups: Cleanup[]): Promise<LaunchFixture> {
  await assertHapiReachable();

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

  cleanups.push({ name: 'metrics of the test model', run: () => deleteDeviceMetrics(device.id) });

  // A family name unique to the run, so the standalone patient picker finds exactly this patient.
  const patientFamily = `Testpatient${runId.replace(/[^a-z0-9]/gi, '')}`;
  const patient = await createResource<Patient>({
    resourceType: 'Patient',
    name: [{ family: patientFamily, given: ['Smart'] }],
  });
  const patientId = patient.id;
  // fhir-server-ext audits every read of the patient's data, and the analyzers of a running demo stack
  // may raise their own Flags on the results. HAPI rejects deleting a Patient that either references,
  // and cleanups run last first, so this one runs after fhir-server-ext stops.
  cleanups.push({
    name: 'AuditEvents and Flags of the test patient',
    run: async () => {
      await deleteFound(`AuditEvent?entity=Patient/${patientId}`);
      await deleteFound(`Flag?subject=Patient/${patientId}`);
    },
  });

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
  const clean = await createResource(aiObservation(patientId, device, '2026-03-13T08:00:00Z', 0.08));
  await createResource<Flag>({
    resourceType: 'Flag',
    meta: { security: [AIAST] },
    identifier: [{ system: FLAG_ID_SYSTEM, value: `${flagged.id}|${FLAG_CODES.modelDrift.code}` }],
    status: 'active',
    category: [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'clinical' }] },
    ],
    code: { coding: [FLAG_CODES.modelDrift] },
    subject: { reference: `Patient/${patientId}` },
    extension: [{ url: FLAG_DETAIL_EXTENSION, valueReference: { reference: `Observation/${flagged.id}` } }],
  });

  const logger = createLogger('smart-app-test', 'silent');
  const distDir = await mkdtemp(join(tmpdir(), 'monitormed-smart-app-e2e-'));
  cleanups.push({ name: 'build folder', run: () => rm(distDir, { recursive: true, force: true }) });

  // The app starts first, because the authorization server registers its URLs. Its relay target is
  // read per request, so fhir-server-ext can start last, once the issuer is known.
  let fhirExtEndpoint = 'http://127.0.0.1:9/fhir';
  const app = await startSmartApp({
    host: '127.0.0.1',
    port: 0,
    fhirUpstreamUrl: () => fhirExtEndpoint,
    distDir,
    build: 'always',
    logger,
  });
  cleanups.push({ name: 'smart-app', run: () => app.close() });

  const auth = await startAuthServer({
    port: 0,
    config: {
      redirectUris: [`${app.url}/index.html`],
      launchUrl: `${app.url}/launch.html`,
      fhirAudiences: [`${app.url}/fhir`],
      accessTokenTtlS: ACCESS_TOKEN_TTL_S,
    },
    logger,
  });
  cleanups.push({ name: 'authorization server', run: () => auth.close() });

  // fhir-server-ext is configured through its environment only, as in a deployment: it trusts the
  // issuer, and the audience is the URL the app reads FHIR from.
  process.env['SMART_ISSUER'] = auth.issuer;
  process.env['SMART_AUDIENCE'] = `${app.url}/fhir`;
  const fhirExt = await startFhirServerExt({
    port: 0,
    skipSubscription: true,
    queuePrefix: `smart-app-e2e-${runId}`,
    logger,
  });
  cleanups.push({ name: 'fhir-server-ext', run: () => fhirExt.close() });
  fhirExtEndpoint = fhirExt.fhirEndpointUrl;

  const browser = await launchChromium();
  cleanups.push({ name: 'Chromium', run: () => browser.close() });

  return {
    app,
    auth,
    fhirExt,
    browser,
    patientId,
    patientFamily,
    deviceId: device.id,
    flaggedId: flagged.id,
    cleanId: clean.id,
    modelName,
  };
}
