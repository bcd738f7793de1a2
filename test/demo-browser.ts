/**
 * Helpers of the demo test's Chromium walk: they find a demo patient with an active monitoring Flag in
 * HAPI, and run the EHR launch from the authorization server's EHR simulator page and the standalone
 * launch through its patient picker.
 */
import assert from 'node:assert/strict';
import type { Bundle, Flag, Patient } from '@medplum/fhirtypes';
import { AIAST_SEARCH, FLAG_ID_SYSTEM } from '@monitormed/common';
import type { Page } from 'playwright-core';
import { allow, signIn } from '../smart-app/src/browser-support.js';

/** A demo patient with active monitoring Flags. */
export interface FlaggedPatient {
  patientId: string;
  /** The patient's active monitoring Flags. */
  flags: Flag[];
  /** The patient's AI-labelled Observations. */
  results: number;
}

/** Searches HAPI with no-cache, because HAPI otherwise returns an identical search's earlier results. */
export async function searchFhir(fhirBaseUrl: string, query: string): Promise<Bundle> {
  const response = await fetch(`${fhirBaseUrl}/${query}`, {
    headers: { accept: 'application/fhir+json', 'cache-control': 'no-cache' },
  });
  assert.equal(response.ok, true, `GET ${query} returned HTTP ${response.status}`);
  return (await response.json()) as Bundle;
}

/**
 * Finds the demo patient with the most active monitoring Flags.
 * @throws AssertionError when no demo patient has one.
 */
export async function findFlaggedPatient(fhirBaseUrl: string, patientIds: string[]): Promise<FlaggedPatient> {
  let best: FlaggedPatient | undefined;
  for (const patientId of patientIds) {
    const flags = await searchFhir(
      fhirBaseUrl,
      `Flag?patient=Patient/${patientId}&identifier=${encodeURIComponent(`${FLAG_ID_SYSTEM}|`)}&_count=200`
    );
    // R4 defines no status search parameter on Flag, so the active ones are kept here.
    const active = (flags.entry ?? [])
      .flatMap((entry) => (entry.resource === undefined ? [] : [entry.resource as Flag]))
      .filter((flag) => flag.status === 'active');
    if (active.length > (best?.flags.length ?? 0)) {
      const results = await searchFhir(
        fhirBaseUrl,
        `Observation?patient=Patient/${patientId}&_security=${encodeURIComponent(AIAST_SEARCH)}&_summary=count`
      );
      best = { patientId, flags: active, results: results.total ?? 0 };
    }
  }
  assert.ok(
    best !== undefined,
    `None of the demo patients ${patientIds.join(', ')} has an active monitoring Flag`
  );
  return best;
}

/**
 * Runs an EHR launch of a patient from the EHR simulator page, signs in as the test clinician, allows
 * the access and waits for the patient view.
 * @param ehrSimulatorUrl - The simulator page of the demo's authorization server.
 */
export async function launchFromEhr(page: Page, ehrSimulatorUrl: string, patientId: string): Promise<void> {
  await page.goto(ehrSimulatorUrl);
  await page.locator('#patient').fill(patientId);
  await page.locator('button:has-text("Launch")').click();
  await page.locator('#smart-app-link').click();
  await signIn(page);
  await allow(page);
  await page.locator('table.results, [role=alert]').first().waitFor({ timeout: 60_000 });
  // One results table per model.
  assert.ok((await page.locator('table.results').count()) >= 1, await page.locator('main').innerText());
}

/**
 * Runs a standalone launch: signs in as the test clinician, searches the patient picker by the
 * patient's family name, picks the patient, allows the access and waits for the patient view.
 * @param standaloneLaunchUrl - The app's standalone launch page.
 * @param fhirBaseUrl - HAPI, where the patient's family name is read.
 */
export async function launchStandalone(
  page: Page,
  standaloneLaunchUrl: string,
  fhirBaseUrl: string,
  patientId: string
): Promise<void> {
  const found = await searchFhir(fhirBaseUrl, `Patient?_id=${patientId}`);
  const family = (found.entry?.[0]?.resource as Patient | undefined)?.name?.[0]?.family;
  assert.ok(family !== undefined, `Patient/${patientId} has no family name to search the picker by`);

  await page.goto(standaloneLaunchUrl);
  await signIn(page);
  await page.locator('#patient-name').fill(family);
  await page.locator('button:has-text("Search")').click();
  await page.locator(`#patient-${patientId}`).check();
  await allow(page);

  await page.locator('table.results, [role=alert]').first().waitFor({ timeout: 60_000 });
  assert.ok((await page.locator('table.results').count()) >= 1, await page.locator('main').innerText());
}
