/**
 * End-to-end test of the patient and monitoring views on the real stack (HAPI FHIR, FerretDB, Redis),
 * with the drift scenario's monitoring data computed by the analyzers (views-fixture.ts). Debian's
 * Chromium (playwright-core) opens every view after one EHR launch and checks the flags, the inventory
 * status, each plot and the compliance report, with axe-core on every view.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Bundle, Flag, Provenance } from '@medplum/fhirtypes';
import { connectMongo, FLAG_CODES, readOverrideRates } from '@monitormed/common';
import type { Page } from 'playwright-core';
import { ARTIFACT_DIR, openView, seriousAxeViolations } from './browser-support.js';
import { SCENARIO } from './scenario-fixture.js';
import { fhirRequest, runCleanups, type Cleanup } from './test-support.js';
import { DEMO_RESULTS_PER_PATIENT, startViewsFixture, type ViewsFixture } from './views-fixture.js';

/** Budget of the first view: from the navigation to the redirect URI until the results table shows. */
const FIRST_VIEW_BUDGET_MS = 1_500;

/** Reads the cells of a table's body rows as text. */
async function tableCells(page: Page, selector: string): Promise<string[][]> {
  return page
    .locator(`${selector} tbody tr`)
    .evaluateAll((rows) =>
      rows.map((row) => [...row.querySelectorAll('th, td')].map((cell) => cell.textContent.trim()))
    );
}

void describe('monitoring views in Chromium', () => {
  let fixture: ViewsFixture | undefined;
  let setupError: unknown;
  const cleanups: Cleanup[] = [];

  // A setup failure (peer down, Chromium missing) is rethrown by every test, so each one fails with it.
  const requireFixture = (): ViewsFixture => {
    if (fixture === undefined) {
      throw setupError instanceof Error ? setupError : new Error(`Test setup failed: ${String(setupError)}`);
    }
    return fixture;
  };

  before(async () => {
    try {
      fixture = await startViewsFixture(cleanups);
    } catch (error) {
      setupError = error;
    }
  });

  after(async () => {
    await runCleanups(cleanups);
  });

  void it('patient view within budget', async () => {
    const f = requireFixture();
    await writeFile(
      join(ARTIFACT_DIR, 'first-view-timing.json'),
      `${JSON.stringify({ firstViewMs: f.firstViewMs, budgetMs: FIRST_VIEW_BUDGET_MS, measuredAt: new Date().toISOString() })}\n`
    );
    process.stderr.write(`First view (patient results) after ${f.firstViewMs.toFixed(0)} ms\n`);
    assert.equal(await f.page.locator('table.results tbody tr').count(), DEMO_RESULTS_PER_PATIENT);
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
    assert.match(explanationText, /p = 0\.0007, below the threshold 0\.01/);
    assert.match(explanationText, /pValue\s*0\.0007/);
    await f.page.screenshot({ path: join(ARTIFACT_DIR, 'views-patient-explanation.png'), fullPage: true });
    assert.deepEqual(await seriousAxeViolations(f.page), [], 'axe on the patient view');
    assert.ok(f.firstViewMs < FIRST_VIEW_BUDGET_MS, `The first view took ${f.firstViewMs.toFixed(0)} ms`);
  });

  void it('override recorded through the dialog', async () => {
    const f = requireFixture();
    const row = f.page.locator(`tr[data-observation-id="${f.flaggedId}"]`);
    // Analyzers of a running demo stack may add their own Flags to the result, so the drift Flag's item is
    // picked by its reason.
    const driftFlag = row.locator('.flag-responses li', { hasText: FLAG_CODES.modelDrift.display });
    await driftFlag.getByRole('button', { name: 'Override', exact: true }).click();
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

    const recorded = driftFlag.locator('.flag-response');
    await recorded.waitFor();
    assert.match(
      await recorded.innerText(),
      /Overridden \(Outside the model's intended use\) by Practitioner\//
    );
    await f.page.screenshot({ path: join(ARTIFACT_DIR, 'views-patient-override.png'), fullPage: true });

    const stored = await fhirRequest<Flag>('GET', `Flag/${f.flagId}`);
    assert.equal(stored.status, 'inactive');
    const provenances = await fhirRequest<Bundle<Provenance>>('GET', `Provenance?target=Flag/${f.flagId}`);
    const provenance = provenances.entry?.[0]?.resource;
    assert.equal(provenances.entry?.length, 1);
    assert.ok(
      provenance?.agent.some((agent) => /^Practitioner\//.test(agent.who.reference ?? '')),
      'the Provenance has no clinician agent'
    );

    // The override counts in the model's override rate, beside CDS Hooks card feedback.
    const mongo = await connectMongo(f.config, 5_000);
    try {
      const rates = await readOverrideRates(mongo.db, { modelId: f.modelId });
      const [rate] = rates;
      assert.equal(rates.length, 1);
      assert.equal(rate?.overridden, 1);
      assert.equal(rate.accepted, 0);
    } finally {
      await mongo.client.close();
    }
  });

  void it('inventory shows model status', async () => {
    const f = requireFixture();
    const page = f.page;
    await openView(page, '#/inventory', 'table.inventory');
    // Taken before the checks, so a failure leaves the page behind as evidence.
    await page.screenshot({ path: join(ARTIFACT_DIR, 'views-inventory.png'), fullPage: true });
    const row = page.locator(`tr[data-device-id="${f.deviceId}"]`);
    assert.equal(await row.count(), 1, 'The inventory has no row of the test model');
    // The row's status arrives after one $monitoring-summary per AI Device on the shared HAPI (70 when
    // this was written, most left by other tests), 4 at a time, so it may take longer than one page action.
    await row.locator('.status').waitFor({ timeout: 90_000 });
    assert.equal(await row.locator('.status').innerText(), 'critical');
    const rowText = await row.innerText();
    assert.match(rowText, new RegExp(f.modelName));
    assert.match(rowText, /3\.2\.1/);
    assert.match(rowText, new RegExp(f.fdaNumber));
    assert.match(rowText, /Flags chest radiographs suspicious for pneumothorax/);
    // The newest window has detected output drift, so it is the last alert.
    const lastWindow = f.scenario.windows.at(-1) ?? '';
    assert.match(rowText, new RegExp(`${lastWindow}: output-drift-ks \\(critical`));
    assert.equal(await row.locator('td.number').innerText(), String(SCENARIO.days * SCENARIO.resultsPerDay));
    await row.screenshot({ path: join(ARTIFACT_DIR, 'views-inventory-row.png') });
    assert.deepEqual(await seriousAxeViolations(page), [], 'axe on the inventory');
  });

  void it('dashboard plots the drift scenario', async () => {
    const f = requireFixture();
    const page = f.page;
    const days = f.scenario.windows.length;
    await openView(page, `#/models/${f.deviceId}`, '[data-chart=volume] .recharts-line-curve');

    for (const chart of ['volume', 'output', 'uncertainty']) {
      const panel = page.locator(`[data-chart=${chart}]`);
      assert.ok((await panel.locator('.recharts-line-curve').count()) >= 1, `The ${chart} chart has no line`);
      assert.equal(await panel.locator('table tbody tr').count(), days, `Rows of the ${chart} table`);
    }
    // Output distribution: percentile bands, and a median that rises with the new scanner.
    assert.equal(await page.locator('[data-chart=output] .recharts-area-area').count(), 2);
    const output = await tableCells(page, '[data-chart=output] table');
    const median = (row: string[] | undefined) => Number(row?.[3]);
    assert.ok(
      median(output.at(-1)) > median(output[0]) + 0.1,
      `Median before and after the drift: ${String(median(output[0]))}, ${String(median(output.at(-1)))}`
    );

    // Drift per feature, each against its own threshold, with the verdict per window.
    for (const metric of ['output-drift-ks', 'feature-drift:age']) {
      const panel = page.locator(`[data-drift-metric="${metric}"]`);
      assert.equal(await panel.locator('.recharts-line-curve').count(), 1, `${metric} has no line`);
      assert.equal(await panel.locator('.recharts-reference-line').count(), 1, `${metric} has no threshold`);
    }
    const outputDrift = await tableCells(page, '[data-drift-metric="output-drift-ks"] table');
    const statusOf = (window: string) => outputDrift.find((row) => row[0] === window)?.at(-1);
    assert.equal(statusOf(f.scenario.windows[4] ?? ''), 'ok', 'the day before the new scanner');
    assert.equal(statusOf(f.scenario.driftWindow), 'critical', 'the first day of the new scanner');

    // Performance: measured beside estimated, each with its 95% interval band.
    const specificity = page.locator('[data-performance=specificity]');
    assert.equal(await specificity.locator('.recharts-line-curve').count(), 2);
    assert.equal(await specificity.locator('.recharts-area-area').count(), 2);
    const headers = await specificity.locator('thead th').allInnerTexts();
    assert.deepEqual(headers, [
      'Window',
      'performance-specificity (measured)',
      'cbpe-specificity (estimated)',
    ]);
    assert.match(await specificity.locator('tbody').innerText(), /\(95% interval 0\.\d+ to 0\.\d+\)/);
    assert.ok((await page.locator('[data-performance=auroc] .recharts-area-area').count()) >= 1);

    assert.equal(await page.locator('[data-chart=subgroups] .recharts-bar-rectangle').count(), 2);
    assert.match(
      await page.locator('[data-chart=subgroups] caption').innerText(),
      /^performance-sensitivity /
    );
    // The override of the patient view is today's clinician feedback.
    assert.match(await page.locator('[data-chart=feedback] tbody').innerText(), /0\s+1\s+1/);

    // Alert timeline: the rule's alert with its documented response, and the drift findings.
    assert.ok(f.scenario.openedWindow !== undefined, 'the specificity rule never opened an alert');
    const ruleAlert = page.locator(`[data-chart=alerts] li[data-rule="${f.scenario.rule.ruleId}"]`);
    assert.equal(await ruleAlert.count(), 1);
    const alertText = await ruleAlert.innerText();
    assert.match(alertText, new RegExp(`opened\\s*${f.scenario.openedWindow}`));
    assert.match(alertText, /Documented response \(Radiology quality lead\): Return the worklist/);
    assert.match(
      await page.locator('[data-chart=alerts]').innerText(),
      new RegExp(`critical\\s*${f.scenario.driftWindow}: output-drift-ks`)
    );
    await page.screenshot({ path: join(ARTIFACT_DIR, 'views-dashboard.png'), fullPage: true });
    await page.screenshot({ path: join(ARTIFACT_DIR, 'views-dashboard-top.png') });
    for (const [selector, name] of [
      ['[data-chart=drift]', 'drift'],
      ['[data-performance=specificity]', 'specificity'],
      ['[data-chart=alerts]', 'alerts'],
    ] as const) {
      await page.locator(selector).screenshot({ path: join(ARTIFACT_DIR, `views-dashboard-${name}.png`) });
    }
    assert.deepEqual(await seriousAxeViolations(page), [], 'axe on the dashboard');
  });

  void it('compliance report exports a PDF', async () => {
    const f = requireFixture();
    const page = f.page;
    await openView(page, `#/models/${f.deviceId}/report`, 'form.report-form');
    // The period ends tomorrow, so it includes today's override as well as the scenario's days.
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    await page.getByLabel('Period start').fill(SCENARIO.firstDay);
    await page.getByLabel('Period end').fill(tomorrow);
    await page.getByLabel(/Sign-off names/).fill('Test Reviewer, AI governance lead');
    await page.locator('button:has-text("Create report")').click();
    await page.locator('article.report, [role=alert]').first().waitFor();
    assert.equal(await page.locator('[role=alert]').count(), 0, await page.locator('main').innerText());

    const report = page.locator('article.report');
    assert.match(await report.innerText(), /Report status: final/);
    assert.match(await report.innerText(), /Performance, estimated: confidence-based performance estimation/);
    const thresholds = await tableCells(page, '[data-section=thresholds]');
    assert.ok(
      thresholds.some((row) => row[0] === 'output-drift-ks' && row[1] === 'ks'),
      'output-drift-ks has no threshold row'
    );
    assert.equal(
      (await page.locator('[data-section=results] tbody tr').count()) > f.scenario.windows.length,
      true,
      'the results table has fewer rows than windows'
    );
    assert.match(
      await report.locator('[data-section=alerts]').innerText(),
      /Documented response \(Radiology/
    );
    assert.match(await report.locator('[data-section=responses] tbody').innerText(), /0\s+1\s+1/);
    assert.match(
      await report.locator('[data-section=alert-responses]').innerText(),
      new RegExp(`Response taken to alert ${f.scenario.rule.ruleId}`)
    );
    assert.match(await report.locator('[data-section=sign-off]').innerText(), /Test Reviewer/);

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('a:has-text("Download the PDF")').click(),
    ]);
    const pdf = await readFile(await download.path());
    assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
    const stored = await fhirRequest<Bundle>('GET', `DiagnosticReport?subject=Device/${f.deviceId}`);
    assert.equal(stored.entry?.length, 1, 'the report is not stored as a DiagnosticReport');

    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('form.report-form').isVisible(), false, 'The form shows in print');
    assert.equal(await page.locator('nav').isVisible(), false, 'The navigation shows in print');
    await page.screenshot({ path: join(ARTIFACT_DIR, 'views-compliance-report-print.png'), fullPage: true });
    await page.emulateMedia({ media: 'screen' });
    await page.screenshot({ path: join(ARTIFACT_DIR, 'views-compliance-report.png'), fullPage: true });
    await page.screenshot({ path: join(ARTIFACT_DIR, 'views-compliance-report-top.png') });
    assert.deepEqual(await seriousAxeViolations(page), [], 'axe on the compliance report');
  });
});
