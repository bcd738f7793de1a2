/**
 * End-to-end test of the monitoring views on the real stack: HAPI FHIR contains a model Device, a patient
 * with a flagged AI result, and MongoDB (FerretDB) contains five daily windows of metrics written with the
 * analyzers' ResultsStore. The SMART authorization server, fhir-server-ext and the app run on free ports,
 * and Debian's Chromium (playwright-core) opens the views after an EHR launch.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Bundle, Flag, Patient, Provenance } from '@medplum/fhirtypes';
import { ANALYZER_VERSION, ResultsStore, type MetricDocument } from '@monitormed/analyzers';
import {
  AI_AGENT_ROLE,
  AIAST,
  buildModelDevice,
  connectMongo,
  createLogger,
  DRIFT_EXTENSION,
  FLAG_CODES,
  FLAG_DETAIL_EXTENSION,
  FLAG_ID_SYSTEM,
  loadConfig,
  loadModelCatalog,
  PROVENANCE_AUTHOR,
  UNCERTAINTY_EXTENSION,
  type MonitorMedConfig,
} from '@monitormed/common';
import { startFhirServerExt } from '@monitormed/fhir-server-ext';
import axe from 'axe-core';
import { chromium, type Browser, type Page } from 'playwright-core';
import { DEFAULT_TEST_USER_PASSWORD } from './auth-server/config.js';
import { TEST_USERNAME } from './auth-server/fhir-directory.js';
import { startAuthServer, type RunningAuthServer } from './auth-server/server.js';
import { FDA_SUBMISSION_SYSTEM } from './client/data/inventory.js';
import { startSmartApp } from './server.js';
import {
  aiObservation,
  assertHapiReachable,
  createResource,
  deleteCreated,
  fhirRequest,
  runId,
} from './test-support.js';

const CHROMIUM_PATH = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
];
const SCREENSHOT_DIR = fileURLToPath(new URL('../test-results/', import.meta.url));
const PAGE_TIMEOUT_MS = 20_000;

/** Budget of the first view: from the navigation to the redirect URI until the results table shows. */
const FIRST_VIEW_BUDGET_MS = 1_500;

/** Daily windows of the metric fixture. Output drift is detected in the last one. */
const WINDOWS = ['2026-02-01', '2026-02-02', '2026-02-03', '2026-02-04', '2026-02-05'];
const DRIFT_WINDOW = '2026-02-05';

interface Fixture {
  auth: RunningAuthServer;
  browser: Browser;
  patientId: string;
  deviceId: string;
  modelName: string;
  fdaNumber: string;
  flaggedId: string;
  /** The model-drift Flag on the flagged result. */
  flagId: string;
  /** One page for all tests, launched once: the views share the SMART session, as in the EHR. */
  page: Page;
  /** Time of the first view, measured by {@link launchApp}. */
  firstViewMs: number;
}

async function seriousAxeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: axe.source });
  return page.evaluate(async () => {
    const result = await (window as unknown as { axe: typeof axe }).axe.run();
    return result.violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map((violation) => `${violation.id}: ${violation.help} (${String(violation.nodes.length)} nodes)`);
  });
}

/** Writes five daily windows of metrics, with a male and a female subgroup, for one model version. */
async function writeMetrics(config: MonitorMedConfig, modelId: string, modelVersion: string): Promise<void> {
  const mongo = await connectMongo(config, 5_000);
  try {
    const store = new ResultsStore(mongo.db);
    await store.ensureIndexes();
    for (const [index, window] of WINDOWS.entries()) {
      const drifting = window === DRIFT_WINDOW;
      const base = {
        modelId,
        modelVersion,
        window,
        granularity: 'day' as const,
        windowStart: new Date(`${window}T00:00:00Z`),
        computedAt: new Date(),
        analyzerVersion: ANALYZER_VERSION,
      };
      const documents: MetricDocument[] = [
        { ...base, subgroup: 'all', metric: 'result-count', value: 30 + index, n: 30 + index },
        { ...base, subgroup: 'all', metric: 'output-score-mean', value: 0.2 + index * 0.05, n: 30 + index },
        {
          ...base,
          subgroup: 'all',
          metric: 'uncertainty-entropy-mean',
          value: 0.3 + index * 0.02,
          n: 30 + index,
        },
        {
          ...base,
          subgroup: 'all',
          metric: 'output-drift-ks',
          value: drifting ? 0.0007 : 0.5,
          statistic: drifting ? 0.58 : 0.1,
          threshold: 0.05,
          test: 'ks',
          status: drifting ? 'drift' : 'no-drift',
          detected: drifting,
          n: 30 + index,
        },
        { ...base, subgroup: 'sex:female', metric: 'uncertainty-entropy-mean', value: 0.25, n: 15 },
        { ...base, subgroup: 'sex:male', metric: 'uncertainty-entropy-mean', value: 0.45, n: 15 },
      ];
      for (const document of documents) {
        await store.upsertMetric(document);
      }
    }
  } finally {
    await mongo.client.close();
  }
}

/** Runs an EHR launch of the patient from the simulator page and returns when the app shows the results. */
async function launchApp(page: Page, f: { auth: RunningAuthServer; patientId: string }): Promise<number> {
  await page.goto(`${f.auth.issuer}/ehr`);
  await page.locator('#patient').fill(f.patientId);
  await page.locator('button:has-text("Launch")').click();
  await page.locator('#smart-app-link').click();
  await page.locator('#username').fill(TEST_USERNAME);
  await page.locator('#password').fill(DEFAULT_TEST_USER_PASSWORD);
  await page.locator('button[type=submit]:has-text("Sign in")').click();
  await page.locator('button:has-text("Allow")').click();

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

async function openView(page: Page, hash: string, readySelector: string): Promise<void> {
  await page.evaluate((fragment) => {
    window.location.hash = fragment;
  }, hash);
  try {
    await page.locator(`${readySelector}, [role=alert]`).first().waitFor();
  } catch (error) {
    throw new Error(`The view ${hash} did not render: ${await page.locator('main').innerText()}`, {
      cause: error,
    });
  }
  const alerts = page.locator('[role=alert]');
  if ((await alerts.count()) > 0) {
    assert.fail(`The view ${hash} shows an error: ${await alerts.first().innerText()}`);
  }
}

void describe('monitoring views in Chromium', () => {
  let fixture: Fixture | undefined;
  let setupError: unknown;
  const cleanups: { name: string; run: () => Promise<unknown> }[] = [];

  // A setup failure (peer down, Chromium missing) is rethrown by every test, so each one fails with it.
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
      `Chromium is missing at ${CHROMIUM_PATH}: run "apt-get install -y chromium".`
    );
    await assertHapiReachable();
    await mkdir(SCREENSHOT_DIR, { recursive: true });

    // A database private to the run, dropped at the end, so the metrics never mix with other tests.
    const config = {
      ...loadConfig(),
      mongoDatabase: `monitormed_test_views_${runId.replace(/[^a-z0-9]/gi, '_')}`,
    };
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

    const catalogModel = loadModelCatalog()[0];
    assert.ok(catalogModel, 'The demo model catalog is empty');
    const modelName = `Views test model ${runId}`;
    const modelVersion = '3.2.1';
    const modelId = `views-test-${runId}`;
    const fdaNumber = `K26V${runId.slice(-4)}`;
    const deviceBody = buildModelDevice({ ...catalogModel, modelId, name: modelName, version: modelVersion });
    deviceBody.identifier = [
      ...(deviceBody.identifier ?? []),
      { system: FDA_SUBMISSION_SYSTEM, value: fdaNumber },
    ];
    const device = await createResource(deviceBody);

    const patient = await createResource<Patient>({
      resourceType: 'Patient',
      name: [{ family: `Viewspatient${runId.replace(/[^a-z0-9]/gi, '')}`, given: ['Smart'] }],
    });
    const flagged = await createResource(
      aiObservation(patient.id, device, `${DRIFT_WINDOW}T09:00:00Z`, 0.52, [
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
            { url: 'threshold', valueDecimal: 0.05 },
            { url: 'window', valueString: DRIFT_WINDOW },
            { url: 'detected', valueBoolean: true },
          ],
        },
      ])
    );
    // Analyzer workers of a running demo stack may raise their own Flags on the result, and fhir-server-ext
    // audits every read. HAPI rejects the deletion of a resource that either still references.
    let flagId = '';
    cleanups.push({
      name: 'Flags and AuditEvents on the test patient',
      run: async () => {
        // AuditEvents go first, because the one of $explain-flag references the Flags and the result.
        // The Provenance of $respond references the Flag and the result, so it goes before both.
        const searches = [
          `AuditEvent?entity=Patient/${patient.id}`,
          `AuditEvent?entity=Observation/${flagged.id}`,
          ...(flagId === '' ? [] : [`Provenance?target=Flag/${flagId}`]),
          `Flag?subject=Patient/${patient.id}`,
        ];
        for (const search of searches) {
          const bundle = await fhirRequest<Bundle>('GET', `${search}&_count=200`);
          for (const entry of bundle.entry ?? []) {
            await fhirRequest('DELETE', `${entry.resource?.resourceType ?? ''}/${entry.resource?.id ?? ''}`);
          }
        }
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
    flagId = flag.id;
    // The AI Provenance names the model Device, from which $explain-flag reads the model and version.
    await createResource<Provenance>({
      resourceType: 'Provenance',
      target: [{ reference: `Observation/${flagged.id}` }],
      recorded: new Date().toISOString(),
      occurredDateTime: `${DRIFT_WINDOW}T09:00:00Z`,
      agent: [
        {
          type: { coding: [PROVENANCE_AUTHOR] },
          role: [{ coding: [AI_AGENT_ROLE] }],
          who: { reference: `Device/${device.id}` },
        },
      ],
    });
    await writeMetrics(config, modelId, modelVersion);

    // $compliance-report stores a DiagnosticReport on the Device, which must go before the Device does.
    cleanups.push({
      name: 'compliance reports',
      run: async () => {
        const bundle = await fhirRequest<Bundle>('GET', `DiagnosticReport?subject=Device/${device.id}`);
        for (const entry of bundle.entry ?? []) {
          await fhirRequest('DELETE', `DiagnosticReport/${entry.resource?.id ?? ''}`);
        }
      },
    });

    const logger = createLogger('smart-app-views-test', 'silent');
    const distDir = await mkdtemp(join(tmpdir(), 'monitormed-smart-app-views-'));
    cleanups.push({ name: 'build folder', run: () => rm(distDir, { recursive: true, force: true }) });

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
      },
      logger,
    });
    cleanups.push({ name: 'authorization server', run: () => auth.close() });

    process.env['SMART_ISSUER'] = auth.issuer;
    process.env['SMART_AUDIENCE'] = `${app.url}/fhir`;
    const fhirExt = await startFhirServerExt({
      port: 0,
      config,
      skipSubscription: true,
      queuePrefix: `smart-app-views-${runId}`,
      logger,
    });
    cleanups.push({ name: 'fhir-server-ext', run: () => fhirExt.close() });
    fhirExtEndpoint = fhirExt.fhirEndpointUrl;

    const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    cleanups.push({ name: 'Chromium', run: () => browser.close() });

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(PAGE_TIMEOUT_MS);
    const firstViewMs = await launchApp(page, { auth, patientId: patient.id });

    return {
      auth,
      browser,
      patientId: patient.id,
      deviceId: device.id,
      modelName,
      fdaNumber,
      flaggedId: flagged.id,
      flagId,
      page,
      firstViewMs,
    };
  }

  after(async () => {
    for (const step of cleanups.reverse()) {
      await step.run().catch((error: unknown) => {
        process.stderr.write(`Cleanup of ${step.name} failed: ${(error as Error).message}\n`);
      });
    }
    await deleteCreated();
  });

  void it('patient view within budget', async () => {
    const f = requireFixture();
    await writeFile(
      join(SCREENSHOT_DIR, 'first-view-timing.json'),
      `${JSON.stringify({ firstViewMs: f.firstViewMs, budgetMs: FIRST_VIEW_BUDGET_MS, measuredAt: new Date().toISOString() })}\n`
    );
    process.stderr.write(`First view (patient results) after ${f.firstViewMs.toFixed(0)} ms\n`);
    const flag = f.page.locator(`tr[data-observation-id="${f.flaggedId}"] .flag`).first();
    assert.equal(await flag.innerText(), FLAG_CODES.modelDrift.display);

    // $explain-flag: the reason with its numbers, and the model and version from the Provenance.
    await f.page.locator(`tr[data-observation-id="${f.flaggedId}"] button:has-text("Why flagged?")`).click();
    const explanation = f.page.locator(
      `#explanation-${f.flaggedId} .explanation, #explanation-${f.flaggedId} .problem-text`
    );
    await explanation.first().waitFor();
    const explanationText = await explanation.first().innerText();
    assert.match(explanationText, new RegExp(`${f.modelName} version 3\\.2\\.1`));
    assert.match(explanationText, /p = 0\.0007, below the threshold 0\.05/);
    assert.match(explanationText, /pValue\s*0\.0007/);
    await f.page.screenshot({ path: join(SCREENSHOT_DIR, 'views-patient-explanation.png'), fullPage: true });
    assert.deepEqual(await seriousAxeViolations(f.page), [], 'axe on the patient view');
    assert.ok(f.firstViewMs < FIRST_VIEW_BUDGET_MS, `The first view took ${f.firstViewMs.toFixed(0)} ms`);
  });

  void it('override recorded through the dialog', async () => {
    const f = requireFixture();
    const row = f.page.locator(`tr[data-observation-id="${f.flaggedId}"]`);
    await row.getByRole('button', { name: 'Override', exact: true }).click();
    const dialog = f.page.getByRole('dialog');
    await dialog.waitFor();
    assert.deepEqual(await seriousAxeViolations(f.page), [], 'axe on the response dialog');

    // The reason is required for an override, so the browser keeps the dialog open without one.
    await dialog.getByRole('button', { name: 'Record override' }).click();
    assert.equal(await dialog.isVisible(), true);

    // Keyboard only: the select and the comment are reached with Tab, the form is sent with Enter.
    await dialog.getByLabel('Reason (required)').focus();
    await dialog.getByLabel('Reason (required)').selectOption('outside-intended-use');
    await f.page.keyboard.press('Tab');
    await f.page.keyboard.type('Synthetic comment');
    await f.page.keyboard.press('Tab');
    await f.page.keyboard.press('Enter');

    const recorded = row.locator('.flag-response');
    await recorded.waitFor();
    assert.match(
      await recorded.innerText(),
      /Overridden \(Outside the model's intended use\) by Practitioner\//
    );
    await f.page.screenshot({ path: join(SCREENSHOT_DIR, 'views-patient-override.png'), fullPage: true });

    const stored = await fhirRequest<Flag>('GET', `Flag/${f.flagId}`);
    assert.equal(stored.status, 'inactive');
    const provenances = await fhirRequest<Bundle<Provenance>>('GET', `Provenance?target=Flag/${f.flagId}`);
    const provenance = provenances.entry?.[0]?.resource;
    assert.equal(provenances.entry?.length, 1);
    assert.ok(
      provenance?.agent.some((agent) => /^Practitioner\//.test(agent.who.reference ?? '')),
      'the Provenance has no clinician agent'
    );
  });

  void it('inventory shows model status', async () => {
    const f = requireFixture();
    const page = f.page;
    await openView(page, '#/inventory', 'table.inventory');
    // Taken before the checks, so a failure leaves the page behind as evidence.
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'views-inventory.png'), fullPage: true });
    const row = page.locator(`tr[data-device-id="${f.deviceId}"]`);
    assert.equal(
      await row.count(),
      1,
      'The inventory has no row of the test model. HAPI reuses the cached result of an identical search (response header X-Cache: HIT), so a run soon after an earlier one misses the new Device while fhir-server-ext drops Cache-Control.'
    );
    assert.equal(await row.locator('.status').innerText(), 'critical');
    const rowText = await row.innerText();
    assert.match(rowText, new RegExp(f.modelName));
    assert.match(rowText, /3\.2\.1/);
    assert.match(rowText, new RegExp(f.fdaNumber));
    assert.match(rowText, new RegExp(`${DRIFT_WINDOW}: output-drift-ks \\(critical`));
    // Volume: 30 + 31 + 32 + 33 + 34 results over the five windows.
    assert.equal(await row.locator('td.number').innerText(), '160');
    await row.screenshot({ path: join(SCREENSHOT_DIR, 'views-inventory-row.png') });
    assert.deepEqual(await seriousAxeViolations(page), [], 'axe on the inventory');
  });

  void it('dashboard plots render with data', async () => {
    const f = requireFixture();
    const page = f.page;
    await openView(page, `#/models/${f.deviceId}`, '[data-chart=volume] .recharts-line-curve');
    for (const chart of ['volume', 'output', 'drift', 'uncertainty']) {
      const panel = page.locator(`[data-chart=${chart}]`);
      assert.ok((await panel.locator('.recharts-line-curve').count()) >= 1, `The ${chart} chart has no line`);
      assert.equal(
        await panel.locator('table tbody tr').count(),
        WINDOWS.length,
        `Rows of the ${chart} table`
      );
    }
    assert.equal(await page.locator('[data-chart=drift] .recharts-reference-line').count(), 1);
    assert.equal(await page.locator('[data-chart=subgroups] .recharts-bar-rectangle').count(), 2);
    assert.match(await page.locator('[data-chart=performance]').innerText(), /No performance metrics/);
    assert.match(
      await page.locator('[data-chart=alerts]').innerText(),
      new RegExp(`critical\\s*${DRIFT_WINDOW}`)
    );
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'views-dashboard.png'), fullPage: true });
    assert.deepEqual(await seriousAxeViolations(page), [], 'axe on the dashboard');
  });

  void it('compliance report exports a PDF', async () => {
    const f = requireFixture();
    const page = f.page;
    await openView(page, `#/models/${f.deviceId}/report`, 'form.report-form');
    await page.locator('input[type=date]').nth(0).fill('2026-02-01');
    await page.locator('input[type=date]').nth(1).fill('2026-02-06');
    await page.locator('input[type=text]').fill('Test Reviewer');
    await page.locator('button:has-text("Create report")').click();
    await page.locator('article.report, [role=alert]').first().waitFor();
    assert.equal(await page.locator('[role=alert]').count(), 0, await page.locator('main').innerText());
    assert.match(await page.locator('article.report').innerText(), /Report status: final/);

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('a:has-text("Download the PDF")').click(),
    ]);
    const pdf = await readFile(await download.path());
    assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-');

    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('form.report-form').isVisible(), false, 'The form shows in print');
    await page.emulateMedia({ media: 'screen' });
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'views-compliance-report.png'), fullPage: true });
    assert.deepEqual(await seriousAxeViolations(page), [], 'axe on the compliance report');
  });
});
