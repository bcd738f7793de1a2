/**
 * End-to-end test of both SMART launches on the real stack. It writes resources to HAPI FHIR and starts
 * the SMART authorization server (oidc-provider), fhir-server-ext verifying its tokens at `/fhir` and the
 * app relaying to it. Debian's Chromium, driven by playwright-core, clicks through login and consent.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { allow, ARTIFACT_DIR, seriousAxeViolations, signIn, storedTokenResponse } from './browser-support.js';
import { assertResults, newPage, startLaunchFixture, type LaunchFixture } from './launch-fixture.js';
import { runCleanups, type Cleanup } from './test-support.js';

void describe('SMART launches in Chromium', () => {
  let fixture: LaunchFixture | undefined;
  let setupError: unknown;
  const cleanups: Cleanup[] = [];

  // A setup failure (peer down, Chromium missing) is rethrown by every test, so each one is reported as
  // failed with the cause instead of cancelled.
  const requireFixture = (): LaunchFixture => {
    if (fixture === undefined) {
      throw setupError instanceof Error ? setupError : new Error(`Test setup failed: ${String(setupError)}`);
    }
    return fixture;
  };

  before(async () => {
    try {
      fixture = await startLaunchFixture(cleanups);
    } catch (error) {
      setupError = error;
    }
  });

  after(async () => {
    await runCleanups(cleanups);
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
      // smart_style_url: the EHR's colors reach the page as CSS variables, and the page uses them.
      const style = await page.evaluate(() => {
        const root = getComputedStyle(document.documentElement);
        return {
          variable: root.getPropertyValue('--smart-color-background').trim(),
          background: root.backgroundColor,
          heading: getComputedStyle(document.querySelector('h1') ?? document.body).color,
        };
      });
      assert.equal(style.variable, '#f4f7fa');
      assert.equal(style.background, 'rgb(244, 247, 250)');
      assert.equal(style.heading, 'rgb(11, 61, 102)');
      await page.screenshot({ path: join(ARTIFACT_DIR, 'ehr-launch.png'), fullPage: true });
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
      await page.screenshot({ path: join(ARTIFACT_DIR, 'ehr-launch-iframe.png'), fullPage: true });
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
      await page.screenshot({ path: join(ARTIFACT_DIR, 'standalone-picker.png'), fullPage: true });
      assert.deepEqual(await seriousAxeViolations(page), []);
      await allow(page);

      await assertResults(page, f);
      assert.match(await page.locator('.patient').innerText(), new RegExp(f.patientId));
      await page.screenshot({ path: join(ARTIFACT_DIR, 'standalone-launch.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });

  void it('standalone launch without a patient', async () => {
    const f = requireFixture();
    const { context, page } = await newPage(f.browser);
    try {
      await page.goto(`${f.app.url}/launch.html?mode=models`);
      await signIn(page);
      // user/ scopes only: the consent page offers no patient picker and lists no patient scope.
      assert.equal(await page.locator('#patient-name').count(), 0);
      const consent = await page.locator('main').innerText();
      assert.doesNotMatch(consent, /patient\/|launch\/patient/);
      assert.match(consent, /user\/Device\.rs/);
      await allow(page);

      await page
        .locator(`table.inventory tr[data-device-id="${f.deviceId}"], [role=alert]`)
        .first()
        .waitFor();
      assert.equal(await page.getByRole('alert').count(), 0, await page.locator('main').innerText());
      assert.equal(await page.locator('nav a', { hasText: 'Patient' }).count(), 0);
      assert.equal(await page.locator('nav a[aria-current=page]').innerText(), 'Model inventory');
      assert.equal(await page.locator('table.results').count(), 0);
      const token = await storedTokenResponse(page);
      assert.equal(token?.['patient'], undefined);
      assert.doesNotMatch(String(token?.['scope']), /patient\//);

      // The patient route of a bookmark also lands on the inventory.
      await page.evaluate(() => {
        window.location.hash = '#/';
      });
      await page.locator('table.inventory').waitFor();
      await page.screenshot({ path: join(ARTIFACT_DIR, 'models-launch.png'), fullPage: true });
      assert.deepEqual(await seriousAxeViolations(page), []);
    } finally {
      await context.close();
    }
  });

  void it('iframe that loses session storage', async () => {
    const f = requireFixture();
    const { context, page } = await newPage(f.browser);
    try {
      // Simulates a browser that partitions or blocks storage in a third-party frame: the launch state
      // saved before the sign-in is gone when the frame returns to the redirect URI.
      await context.addInitScript(() => {
        if (window !== window.top && window.location.pathname === '/index.html') {
          sessionStorage.clear();
        }
      });
      await page.goto(`${f.auth.issuer}/ehr`);
      await page.locator('#patient').fill(f.patientId);
      await page.locator('input[name=embed]').check();
      await page.locator('button:has-text("Launch")').click();

      const frame = page.frameLocator('#smart-app-frame');
      await signIn(frame);
      await allow(frame);
      const alert = frame.getByRole('alert');
      await alert.waitFor();
      assert.equal(await alert.locator('h2').innerText(), 'Launch session missing or expired');
      const text = await alert.innerText();
      assert.match(text, /blocked storage inside the EHR frame/);
      assert.match(text, /Open MonitorMed from a patient's chart/);
      assert.equal(await alert.locator('a[target=_blank][href="./launch.html"]').count(), 1);
      await page.screenshot({ path: join(ARTIFACT_DIR, 'iframe-lost-storage.png'), fullPage: true });
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
      const readToken = async (): Promise<unknown> => (await storedTokenResponse(page))?.['access_token'];
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
      await page.screenshot({ path: join(ARTIFACT_DIR, 'stale-state.png'), fullPage: true });
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
      assert.equal(await page.locator('a[href="./launch.html?mode=models"]').count(), 1);
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
