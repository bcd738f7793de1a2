/**
 * Setup of the monitoring views test. HAPI FHIR gets a model Device (with an FDA submission number) and
 * a patient with one flagged AI result, its Flag and AI Provenance. A MongoDB database private to the run
 * gets the drift scenario's monitoring data (scenario-fixture.ts). The authorization server,
 * fhir-server-ext and the app start on free ports, and Chromium runs one EHR launch whose first view is
 * timed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, Flag, Patient, Provenance } from '@medplum/fhirtypes';
import {
  AI_AGENT_ROLE,
  AIAST,
  buildModelDevice,
  connectMongo,
  createFhirClient,
  createLogger,
  DRIFT_EXTENSION,
  FLAG_CODES,
  FLAG_DETAIL_EXTENSION,
  FLAG_ID_SYSTEM,
  loadConfig,
  loadModelCatalog,
  MODEL_ID_SYSTEM,
  PROVENANCE_AUTHOR,
  UNCERTAINTY_EXTENSION,
  type Logger,
  type MonitorMedConfig,
} from '@monitormed/common';
import { startFhirServerExt } from '@monitormed/fhir-server-ext';
import type { Browser, Page } from 'playwright-core';
import { startAuthServer, type RunningAuthServer } from './auth-server/server.js';
import { allow, launchChromium, PAGE_TIMEOUT_MS, signIn } from './browser-support.js';
import { writeScenarioMonitoring, type ScenarioData } from './scenario-fixture.js';
import { startSmartApp } from './server.js';
import {
  aiObservation,
  assertHapiReachable,
  createResource,
  deleteDeviceMetrics,
  deleteFound,
  fhirRequest,
  runId,
  type Cleanup,
} from './test-support.js';

/** AI results of the test patient: about as many as a patient of the demo's default run has. */
export const DEMO_RESULTS_PER_PATIENT = 40;

/** Servers, browser, page and test data that {@link startViewsFixture} started or wrote. */
export interface ViewsFixture {
  auth: RunningAuthServer;
  browser: Browser;
  /** Settings of the run, with its private MongoDB database. */
  config: MonitorMedConfig;
  patientId: string;
  deviceId: string;
  modelId: string;
  modelName: string;
  modelVersion: string;
  fdaNumber: string;
  flaggedId: string;
  /** The model-drift Flag on the flagged result. */
  flagId: string;
  scenario: ScenarioData;
  /** One page for all tests, launched once: the views share the SMART session, as in the EHR. */
  page: Page;
  /** Time of the first view, measured by {@link launchApp}. */
  firstViewMs: number;
}

/** Runs an EHR launch of the patient from the simulator page and returns the first view's time in ms. */
async function launchApp(page: Page, auth: RunningAuthServer, patientId: string): Promise<number> {
  await page.goto(`${auth.issuer}/ehr`);
  await page.locator('#patient').fill(patientId);
  await page.locator('button:has-text("Launch")').click();
  await page.locator('#smart-app-link').click();
  await signIn(page);
  await allow(page);

  // performance.now() counts from the start of the navigation to the redirect URI, so this is the time
  // of the whole first view: page load, code exchange and the FHIR reads.
  const firstViewMs = await page.waitForFunction(() =>
    document.querySelector('table.results, [role=alert]') === null ? false : performance.now()
  );
  const text = await page.locator('main').innerText();
  assert.ok(
    (await page.locator('table.results').count()) === 1,
    `The patient view shows no results: ${text}`
  );
  return (await firstViewMs.jsonValue()) as number;
}

/** Writes the patient, the flagged result on the first drifted day, its Flag and the AI Provenance. */
async function writePatient(
  deviceId: string,
  driftWindow: string,
  cleanups: Cleanup[]
): Promise<{ patientId: string; flaggedId: string; flagId: string }> {
  const patient = await createResource<Patient>({
    resourceType: 'Patient',
    name: [{ family: `Viewspatient${runId.replace(/[^a-z0-9]/gi, '')}`, given: ['Smart'] }],
  });

  const device = { resourceType: 'Device' as const, id: deviceId };
  const flagged = await createResource(
    aiObservation(patient.id, device, `${driftWindow}T09:00:00Z`, 0.52, [
      {
        url: UNCERTAINTY_EXTENSION,
        extension: [
          { url: 'method', valueCode: 'entropy' },
          { url: 'value', valueDecimal: 0.9988 },
          { url: 'analyzerVersion', valueString: 'test' },
        ],
      },
      {
        url: DRIFT_EXTENSION,
        extension: [
          { url: 'test', valueCode: 'ks' },
          { url: 'statistic', valueDecimal: 0.58 },
          { url: 'pValue', valueDecimal: 0.0007 },
          { url: 'threshold', valueDecimal: 0.01 },
          { url: 'window', valueString: driftWindow },
          { url: 'detected', valueBoolean: true },
        ],
      },
    ])
  );

  // The demo's default run gives each patient about 40 AI results, so the first view reads as many: 39
  // more in one transaction, one per hour before the flagged result.
  const flaggedTime = Date.parse(`${driftWindow}T09:00:00Z`);
  const earlier: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: Array.from({ length: DEMO_RESULTS_PER_PATIENT - 1 }, (_, index) => ({
      request: { method: 'POST' as const, url: 'Observation' },
      resource: aiObservation(
        patient.id,
        device,
        new Date(flaggedTime - (index + 1) * 3_600_000).toISOString(),
        Math.round(((index * 37) % 100) / 2) / 100
      ),
    })),
  };
  await fhirRequest('POST', '', earlier);

  // Analyzer workers of a running demo stack may raise their own Flags on the result, and fhir-server-ext
  // audits every read. HAPI rejects the deletion of a resource that either still references. The
  // AuditEvent of $explain-flag references the Flags and the result, and the Provenance of $respond the
  // Flag and the result, so both go first.
  cleanups.push({
    name: 'AuditEvents, Provenances and Flags of the test patient',
    run: async () => {
      await deleteFound(`AuditEvent?entity=Patient/${patient.id}`);
      await deleteFound(`AuditEvent?entity=Observation/${flagged.id}`);
      await deleteFound(`Provenance?target=Observation/${flagged.id}`);
      await deleteFound(`Flag?subject=Patient/${patient.id}`);
      await deleteFound(`Observation?subject=Patient/${patient.id}`);
    },
  });

  const flag = await createResource<Flag>({
    resourceType: 'Flag',
    meta: { security: [AIAST] },
    identifier: [{ system: FLAG_ID_SYSTEM, value: `${flagged.id}|${FLAG_CODES.modelDrift.code}` }],
    status: 'active',
    category: [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'clinical' }] },
    ],
    code: { coding: [FLAG_CODES.modelDrift] },
    subject: { reference: `Patient/${patient.id}` },
    extension: [{ url: FLAG_DETAIL_EXTENSION, valueReference: { reference: `Observation/${flagged.id}` } }],
  });

  // The AI Provenance names the model Device, from which $explain-flag reads the model and version.
  await createResource<Provenance>({
    resourceType: 'Provenance',
    target: [{ reference: `Observation/${flagged.id}` }],
    recorded: new Date().toISOString(),
    occurredDateTime: `${driftWindow}T09:00:00Z`,
    agent: [
      {
        type: { coding: [PROVENANCE_AUTHOR] },
        role: [{ coding: [AI_AGENT_ROLE] }],
        who: { reference: `Device/${deviceId}` },
      },
    ],
  });

  return { patientId: patient.id, flaggedId: flagged.id, flagId: flag.id };
}

/** Writes the scenario's monitoring data into the run's database, which is dropped at the end. */
async function writeMonitoring(
  config: MonitorMedConfig,
  model: Parameters<typeof writeScenarioMonitoring>[2],
  deviceId: string,
  cleanups: Cleanup[],
  log: Logger
): Promise<ScenarioData> {
  cleanups.push({
    name: 'metric database',
    run: async () => {
      const mongo = await connectMongo(config, 5_000);
      try {
        await mongo.db.dropDatabase();
      } finally {
        await mongo.client.close();
      }
    },
  });
  // The alert service raises the model's alert Flag on a Group of the Device, and the Flag goes first.
  cleanups.push({
    name: 'model alert Flag and Group',
    run: async () => {
      await deleteFound(`Flag?author=Device/${deviceId}`);
      await deleteFound(`Group?identifier=${encodeURIComponent(`${MODEL_ID_SYSTEM}|${model.modelId}`)}`);
    },
  });
  const mongo = await connectMongo(config, 5_000);
  try {
    return await writeScenarioMonitoring(mongo.db, createFhirClient(config), model, deviceId, runId, log);
  } finally {
    await mongo.client.close();
  }
}

/**
 * Writes the test data, starts the servers and Chromium, and runs the EHR launch. Each step adds its undo
 * to `cleanups`, which the caller runs last first.
 */
export async function startViewsFixture(cleanups: Cleanup[]): Promise<ViewsFixture> {
  await assertHapiReachable();
  const log = createLogger('smart-app-views-test', 'silent');
  const config = {
    ...loadConfig(),
    mongoDatabase: `monitormed_test_views_${runId.replace(/[^a-z0-9]/gi, '_')}`,
  };

  // The demo's chest X-ray model under an id, name and FDA number of the run's own.
  const catalogModel = loadModelCatalog().find((model) => model.modelId === 'cxr-pneumothorax');
  assert.ok(catalogModel, 'The demo model catalog has no cxr-pneumothorax model');
  const fdaNumber = `K${String(Date.now() % 1_000_000).padStart(6, '0')}`;
  const model = {
    ...catalogModel,
    modelId: `views-test-${runId}`,
    name: `Views test model ${runId}`,
    version: '3.2.1',
    fdaSubmissionNumber: fdaNumber,
  };
  const device = await createResource(buildModelDevice(model));
  cleanups.push({ name: 'metrics of the test model', run: () => deleteDeviceMetrics(device.id) });
  const scenario = await writeMonitoring(config, model, device.id, cleanups, log);
  const patient = await writePatient(device.id, scenario.driftWindow, cleanups);

  // $compliance-report stores a DiagnosticReport on the Device, which must go before the Device does.
  cleanups.push({
    name: 'compliance reports',
    run: () => deleteFound(`DiagnosticReport?subject=Device/${device.id}`),
  });
  const distDir = await mkdtemp(join(tmpdir(), 'monitormed-smart-app-views-'));
  cleanups.push({ name: 'build folder', run: () => rm(distDir, { recursive: true, force: true }) });

  // The app starts first, because the authorization server registers its URLs. Its relay target is read
  // per request, so fhir-server-ext can start last, once the issuer is known.
  let fhirExtEndpoint = 'http://127.0.0.1:9/fhir';
  const app = await startSmartApp({
    host: '127.0.0.1',
    port: 0,
    fhirUpstreamUrl: () => fhirExtEndpoint,
    distDir,
    build: 'always',
    logger: log,
  });
  cleanups.push({ name: 'smart-app', run: () => app.close() });
  const auth = await startAuthServer({
    port: 0,
    config: {
      redirectUris: [`${app.url}/index.html`],
      launchUrl: `${app.url}/launch.html`,
      fhirAudiences: [`${app.url}/fhir`],
    },
    logger: log,
  });
  cleanups.push({ name: 'authorization server', run: () => auth.close() });
  process.env['SMART_ISSUER'] = auth.issuer;
  process.env['SMART_AUDIENCE'] = `${app.url}/fhir`;
  const fhirExt = await startFhirServerExt({
    port: 0,
    config,
    skipSubscription: true,
    queuePrefix: `smart-app-views-${runId}`,
    logger: log,
  });
  cleanups.push({ name: 'fhir-server-ext', run: () => fhirExt.close() });
  fhirExtEndpoint = fhirExt.fhirEndpointUrl;

  const browser = await launchChromium();
  cleanups.push({ name: 'Chromium', run: () => browser.close() });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(PAGE_TIMEOUT_MS);
  const firstViewMs = await launchApp(page, auth, patient.patientId);

  return {
    auth,
    browser,
    config,
    ...patient,
    deviceId: device.id,
    modelId: model.modelId,
    modelName: model.name,
    modelVersion: model.version,
    fdaNumber,
    scenario,
    page,
    firstViewMs,
  };
}
