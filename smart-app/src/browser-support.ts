/**
 * Browser helpers of the smart-app end-to-end tests: Debian's Chromium driven by playwright-core (a
 * browser download fails here), sign-in and consent on the test authorization server, and axe-core.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import axe from 'axe-core';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { DEFAULT_TEST_USER_PASSWORD } from './auth-server/config.js';
import { TEST_USERNAME } from './auth-server/fhir-directory.js';

/** Debian's Chromium package installs the browser here. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

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

/** Folder of the screenshots and timing records, kept as test artifacts (ignored by git). */
export const ARTIFACT_DIR = fileURLToPath(new URL('../test-results/', import.meta.url));

/** Time limit of one page action; the shared 2-CPU test machine can be slow. */
export const PAGE_TIMEOUT_MS = 20_000;

/** Something to look up elements in: a page or an iframe of it. */
export interface Surface {
  locator(selector: string): Locator;
}

/**
 * Starts headless Chromium and creates the artifact folder.
 * @throws AssertionError naming the install command when Chromium is missing.
 */
export async function launchChromium(): Promise<Browser> {
  assert.ok(
    existsSync(CHROMIUM_PATH),
    `Chromium is missing at ${CHROMIUM_PATH}: install it with "apt-get install -y chromium".`
  );
  await mkdir(ARTIFACT_DIR, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

/** Signs in as the test user on the authorization server's login page. */
export async function signIn(surface: Surface): Promise<void> {
  await surface.locator('#username').fill(TEST_USERNAME);
  await surface.locator('#password').fill(DEFAULT_TEST_USER_PASSWORD);
  await surface.locator('button[type=submit]:has-text("Sign in")').click();
}

/** Allows the requested access on the consent page. */
export async function allow(surface: Surface): Promise<void> {
  await surface.locator('button:has-text("Allow")').click();
}

/** Runs axe-core on the page and returns its serious and critical violations, one line each. */
export async function seriousAxeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: axe.source });
  return page.evaluate(async () => {
    const result = await (window as unknown as { axe: typeof axe }).axe.run();
    return result.violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map((violation) => `${violation.id}: ${violation.help} (${String(violation.nodes.length)} nodes)`);
  });
}

/** Reads fhirclient's stored token response of the page's SMART session, or undefined without one. */
export async function storedTokenResponse(page: Page): Promise<Record<string, unknown> | undefined> {
  return page.evaluate(() => {
    // fhirclient keeps the key of its state under SMART_KEY, and the state under that key.
    const key = sessionStorage.getItem('SMART_KEY');
    const state = key === null ? null : sessionStorage.getItem(JSON.parse(key) as string);
    if (state === null) {
      return undefined;
    }
    return (JSON.parse(state) as { tokenResponse?: Record<string, unknown> }).tokenResponse;
  });
}

/**
 * Opens a view of the app by its hash route and waits until `readySelector` or an error alert is attached.
 * @throws AssertionError with the alert's text when the view shows an error, or the page text when
 *   neither appears in time.
 */
export async function openView(page: Page, hash: string, readySelector: string): Promise<void> {
  await page.evaluate((fragment) => {
    window.location.hash = fragment;
  }, hash);
  try {
    // Attached rather than visible: a flat line of a chart has a zero-height box, which is never visible.
    await page.locator(`${readySelector}, [role=alert]`).first().waitFor({ state: 'attached' });
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
