/**
 * End-to-end test of both SMART launches on the real stack. It writes resources to HAPI FHIR and starts
 * the SMART authorization server (oidc-provider), fhir-server-ext verifying its tokens at `/fhir` and the
 * app relaying to it. Debian's Chromium, driven by playwright-core, clicks through login and consent.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Flag, OperationOutcome, Patient } from '@medplum/fhirtypes';
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
import axe from 'axe-core';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { DEFAULT_TEST_USER_PASSWORD } from './auth-server/config.js';
import { TEST_USERNAME } from './auth-server/fhir-directory.js';
import { startAuthServer, type RunningAuthServer } from './auth-server/server.js';
import { startSmartApp, type RunningSmartApp } from './server.js';
import { aiObservation, assertHapiReachable, createResource, deleteCreated, runId } from './test-support.js';

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
const PAGE_TIMEOUT_MS = 20_000;

/**
 * Access token lifetime of this run. fhirclient refreshes a token that expires within 10 s, so with
 * 12 s every request made more than 2 s after the token was issued goes through a refresh.
 */
const ACCESS_TOKEN_TTL_S = 12;

/** What setUp() created and started, for the tests to use. */
interface Fixture {
  app: RunningSmartApp;
  auth: RunningAuthServer;
  fhirExt: FhirServerExt;
  browser: Browser;
  patientId: string;
  patientFamily: string;
  flaggedId: string;
  cleanId: string;
  modelName: string;
}

/** Something to look up elements in: a page or an iframe of it. */
interface Surface {
  locator(selector: string): Locator;
}

async function newPage(browser: Browser): Promise<{ context: BrowserContext; page: Page }> {
  // A context of its own per test, so no login session or sessionStorage carries over.
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(PAGE_TIMEOUT_MS);
  page.on('pageerror', (error) => {
    process.stderr.write(`Browser page error: ${error.message}\n`);
  });
  return { context, page };
}

async function signIn(surface: Surface): Promise<void> {
  await surface.locator('#username').fill(TEST_USERNAME);
  await surface.locator('#password').fill(DEFAULT_TEST_USER_PASSWORD);
  await surface.locator('button[type=submit]:has-text("Sign in")').click();
}

async function allow(surface: Surface): Promise<void> {
  await surface.locator('button:has-text("Allow")').click();
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

async function assertResults(surface: Surface, f: Fixture): Promise<void> {
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

void describe('SMART launches in Chromium', () => {
  let fixture: Fixture | undefined;
  let setupError: unknown;
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

    // A family name unique to the run, so the standalone patient picker finds exactly this patient.
    const patientFamily = `Testpatient${runId.replace(/[^a-z0-9]/gi, '')}`;
    const patient = await createResource<Patient>({
      resourceType: 'Patient',
      name: [{ family: patientFamily, given: ['Smart'] }],
    });
    const patientId = patient.id;

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

    const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    cleanups.push({ name: 'Chromium', run: () => browser.close() });

    return {
      app,
      auth,
      fhirExt,
      browser,
      patientId,
      patientFamily,
      flaggedId: flagged.id,
      cleanId: clean.id,
      modelName,
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

  void it('EHR launch shows results and flags', async () => {
    const f = requireFixture();
    const { context, page } = await newPage(f.browser);
    try {
      await page.goto(`${f.auth.issuer}/ehr`);
      await page.locator('#patient').fill(f.patientId);
      await page.locator('button:has-text("Launch")').click();
      await page.locator('#smart-app-link').click();

      await signIn(page);
      assert.match(
        await page.locator('main').innerText(),
        new RegExp(`Patient in context: id ${f.patientId}`)
      );
      await allow(page);

      await assertResults(page, f);
      assert.equal(new URL(page.url()).pathname, '/index.html');
      // need_patient_banner is true outside a frame, so the app names the patient itself.
      assert.match(await page.locator('.patient').innerText(), new RegExp(`Smart ${f.patientFamily}`));
      // smart_style_url: the EHR's background color reaches the page as a CSS variable.
      const background = await page.evaluate(() =>
        getComputedStyle(document.documentElement).getPropertyValue('--smart-color-background').trim()
      );
      assert.equal(background, '#f4f7fa');
      await page.screenshot({ path: join(SCREENSHOT_DIR, 'ehr-launch.png'), fullPage: true });
      assert.deepEqual(await seriousAxeViolations(page), []);
    } finally {
      await context.close();
    }
  });

  void it('EHR launch inside an iframe', async () => {
    const f = requireFixture();
    const { context, page } = await newPage(f.browser);
    try {
      await page.goto(`${f.auth.issuer}/ehr`);
      await page.locator('#patient').fill(f.patientId);
      await page.locator('input[name=embed]').check();
      await page.locator('button:has-text("Launch")').click();

      const frame = page.frameLocator('#smart-app-frame');
      await signIn(frame);
      await allow(frame);
      await assertResults(frame, f);
      // The EHR chart around the frame names the patient, so need_patient_banner is false.
      assert.equal(await frame.locator('.patient').count(), 0);
      assert.equal(await page.locator('#ehr-patient').innerText(), f.patientId);
      await page.screenshot({ path: join(SCREENSHOT_DIR, 'ehr-launch-iframe.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });

  void it('standalone launch picks a patient', async () => {
    const f = requireFixture();
    const { context, page } = await newPage(f.browser);
    try {
      await page.goto(`${f.app.url}/launch.html`);
      await signIn(page);

      await page.locator('#patient-name').fill(f.patientFamily);
      await page.locator('button:has-text("Search")').click();
      await page.locator(`#patient-${f.patientId}`).check();
      await page.screenshot({ path: join(SCREENSHOT_DIR, 'standalone-picker.png'), fullPage: true });
      assert.deepEqual(await seriousAxeViolations(page), []);
      await allow(page);

      await assertResults(page, f);
      assert.match(await page.locator('.patient').innerText(), new RegExp(f.patientId));
      await page.screenshot({ path: join(SCREENSHOT_DIR, 'standalone-launch.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });

  void it('refreshes an expired access token', async () => {
    const f = requireFixture();
    const { context, page } = await newPage(f.browser);
    try {
      await page.goto(f.auth.createLaunchUrl(f.patientId));
      await signIn(page);
      await allow(page);
      await assertResults(page, f);
      const readToken = (): Promise<string | undefined> =>
        page.evaluate(() => {
          const key = sessionStorage.getItem('SMART_KEY');
          const state = key === null ? null : sessionStorage.getItem(JSON.parse(key) as string);
          if (state === null) {
            return undefined;
          }
          return (JSON.parse(state) as { tokenResponse?: { access_token?: string } }).tokenResponse
            ?.access_token;
        });
      const firstToken = await readToken();
      assert.ok(firstToken, 'fhirclient stored no access token');
      const refreshesBefore = f.auth.tokenGrants()['refresh_token'] ?? 0;

      // Past 2 s the 12 s token is inside fhirclient's 10 s refresh margin.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      await page.reload();
      await assertResults(page, f);

      assert.ok(
        (f.auth.tokenGrants()['refresh_token'] ?? 0) > refreshesBefore,
        'no refresh_token grant was made'
      );
      const secondToken = await readToken();
      assert.ok(secondToken);
      assert.notEqual(secondToken, firstToken);
    } finally {
      await context.close();
    }
  });

  void it('rejects an unknown launch id', async () => {
    const f = requireFixture();
    const { context, page } = await newPage(f.browser);
    try {
      const iss = encodeURIComponent(`${f.app.url}/fhir`);
      await page.goto(`${f.app.url}/launch.html?iss=${iss}&launch=no-such-launch`);
      await signIn(page);
      const alert = page.getByRole('alert');
      await alert.waitFor();
      assert.equal(await alert.locator('h2').innerText(), 'Launch session missing or expired');
      assert.match(await alert.innerText(), /launch id is unknown or expired/);
    } finally {
      await context.close();
    }
  });

  void it('explains a stale state', async () => {
    const f = requireFixture();
    const { context, page } = await newPage(f.browser);
    try {
      await page.goto(`${f.app.url}/index.html?code=old-code&state=stale-state`);
      const alert = page.getByRole('alert');
      await alert.waitFor();
      assert.equal(await alert.locator('h2').innerText(), 'Launch session missing or expired');
      assert.match(await alert.innerText(), /Open MonitorMed from a patient's chart/);
      await page.screenshot({ path: join(SCREENSHOT_DIR, 'stale-state.png'), fullPage: true });
      assert.deepEqual(await seriousAxeViolations(page), []);
    } finally {
      await context.close();
    }
  });

  void it('explains how to launch', async () => {
    const f = requireFixture();
    const { context, page } = await newPage(f.browser);
    try {
      await page.goto(`${f.app.url}/`);
      await page.locator('main h2').waitFor();
      assert.equal(await page.locator('main h2').innerText(), 'Not launched');
      assert.equal(await page.locator('a[href="./launch.html"]').count(), 1);
    } finally {
      await context.close();
    }
  });

  void it('publishes the issuer endpoints', async () => {
    const f = requireFixture();
    const response = await fetch(`${f.app.url}/fhir/.well-known/smart-configuration`);
    assert.equal(response.status, 200);
    const configuration = (await response.json()) as Record<string, unknown>;
    assert.equal(configuration['issuer'], f.auth.issuer);
    assert.equal(configuration['authorization_endpoint'], `${f.auth.issuer}/authorize`);
    assert.equal(configuration['token_endpoint'], `${f.auth.issuer}/token`);
    assert.equal(configuration['jwks_uri'], `${f.auth.issuer}/jwks`);
    assert.deepEqual(configuration['code_challenge_methods_supported'], ['S256']);
  });

  void it('rejects missing and forged tokens', async () => {
    const f = requireFixture();
    const anonymous = await fetch(`${f.app.url}/fhir/Patient/${f.patientId}`);
    assert.equal(anonymous.status, 401);
    const anonymousOutcome = (await anonymous.json()) as OperationOutcome;
    assert.equal(anonymousOutcome.issue[0]?.code, 'login');

    // The relay forwards a token it cannot judge; fhir-server-ext rejects it.
    const forged = await fetch(`${f.app.url}/fhir/Patient/${f.patientId}`, {
      headers: { authorization: 'Bearer not-a-jwt' },
    });
    assert.equal(forged.status, 401);
    assert.match(forged.headers.get('www-authenticate') ?? '', /invalid_token/);
  });
});
