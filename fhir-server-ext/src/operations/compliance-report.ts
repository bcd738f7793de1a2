/**
 * `Device/{id}/$compliance-report`: builds the compliance report of one model version and period as a
 * DiagnosticReport with the PDF in `presentedForm`. It is stored with a conditional update on its
 * identifier (model, version and period), so a rerun replaces the earlier report, and the stored
 * version is returned.
 */
import type { DiagnosticReport } from '@medplum/fhirtypes';
import { AIAST, MONITORMED_BASE, type OverrideRate } from '@monitormed/common';
import type { Db } from 'mongodb';
import { UpstreamError } from '../proxy/upstream-error.js';
import { renderCompliancePdf, type ReportAlert, type ReportRow } from './compliance-pdf.js';
import { callFhir, readModelIdentity, type FhirTarget } from './fhir-reads.js';
import {
  modelStatusOf,
  statusOf,
  thresholdOf,
  type MetricValue,
  type StatusThresholds,
} from './metric-status.js';
import { dayRangeOf, readAlertEvents, readClinicianFeedback, type DayRange } from './monitoring-events.js';
import { readWindowSelection, selectMetricValues } from './monitoring-summary.js';
import { OperationInputError } from './operation-input-error.js';
import type { OperationInputs } from './parameters.js';

/** Input parameter names of $compliance-report. */
export const COMPLIANCE_REPORT_INPUTS = ['start', 'end', 'signOff', 'granularity'] as const;

/** Profile of the compliance DiagnosticReport, defined in profiles/input/fsh/operations.fsh. */
export const COMPLIANCE_REPORT_PROFILE = `${MONITORMED_BASE}/StructureDefinition/monitoring-compliance-report`;

/** Identifier system of compliance reports; the value is `{modelId}|{modelVersion}|{start}|{end}`. */
export const COMPLIANCE_REPORT_ID_SYSTEM = `${MONITORMED_BASE}/sid/compliance-report`;

/** Code of the compliance report, in MonitorMed's report code system. */
export const COMPLIANCE_REPORT_CODE = {
  system: `${MONITORMED_BASE}/CodeSystem/monitoring-report`,
  code: 'compliance-report',
  display: 'AI model monitoring compliance report',
};

/** Written in finding rows that no alert rule covers, so no documented response applies. */
export const NO_RESPONSE_RECORDED =
  'No alert rule covers this finding, so no response is documented; record the response taken here.';

function formatNumber(value: number | null): string {
  return value === null ? '-' : String(Number(value.toPrecision(6)));
}

function reportRows(values: readonly MetricValue[], thresholds: StatusThresholds): ReportRow[] {
  return values.map((value) => ({
    window: value.window,
    subgroup: value.subgroup,
    metric: value.metric,
    value: formatNumber(value.value),
    n: String(value.n),
    threshold: formatNumber(thresholdOf(value, thresholds)),
    status: statusOf(value, thresholds),
  }));
}

/**
 * Lists the alerts of the period: the alert events the analyzers' alert rules recorded, each with the
 * rule's documented response, then the windows where a status rule found a warning or critical value.
 */
async function reportAlerts(
  db: Db,
  modelId: string,
  days: DayRange,
  values: readonly MetricValue[],
  thresholds: StatusThresholds
): Promise<ReportAlert[]> {
  const events = await readAlertEvents(db, modelId, days);
  const ruleAlerts = events.map((event) => ({
    window: event.window,
    subgroup: event.subgroup,
    metric: event.metric,
    status: `${event.kind} (rule ${event.ruleId}: ${event.direction} ${event.threshold})`,
    response: `${event.response.owner}: ${event.response.action}`,
    ruleId: event.ruleId,
  }));

  const findings = values
    .filter((value) => ['warning', 'critical'].includes(statusOf(value, thresholds)))
    .map((value) => ({
      window: value.window,
      subgroup: value.subgroup,
      metric: value.metric,
      status: statusOf(value, thresholds),
      response: NO_RESPONSE_RECORDED,
    }));
  return [...ruleAlerts, ...findings];
}

function sumOf(feedback: readonly OverrideRate[], field: 'accepted' | 'overridden'): number {
  return feedback.reduce((sum, day) => sum + day[field], 0);
}

/**
 * Runs $compliance-report.
 * @returns The stored DiagnosticReport.
 * @throws OperationInputError when `start` or `end` is missing or invalid; OperationNotFoundError for an
 *   unknown Device; UpstreamError when the FHIR server rejects the report.
 */
export async function complianceReport(
  target: FhirTarget,
  db: Db,
  deviceId: string,
  inputs: OperationInputs,
  thresholds: StatusThresholds
): Promise<DiagnosticReport> {
  for (const name of ['start', 'end']) {
    if (!inputs.has(name)) {
      throw new OperationInputError(
        name,
        `Parameter '${name}' is required: the report covers the period from start to end, such as 2026-01-01.`
      );
    }
  }
  const selection = readWindowSelection(inputs, { from: 'start', to: 'end' });
  const periodStart = (selection.from ?? new Date(0)).toISOString();
  const periodEnd = (selection.to ?? new Date(0)).toISOString();
  const signOff = inputs.get('signOff') ?? [];

  const model = await readModelIdentity(target, deviceId);
  const values = await selectMetricValues(db, model.modelId, model.modelVersion, selection);
  const status = modelStatusOf(values, thresholds);
  const generatedAt = new Date().toISOString();
  const days = dayRangeOf(selection.from, selection.to);
  const alerts = await reportAlerts(db, model.modelId, days, values, thresholds);
  const feedback = await readClinicianFeedback(db, model.modelId, days);
  const pdf = await renderCompliancePdf({
    model,
    periodStart,
    periodEnd,
    generatedAt,
    granularity: selection.granularity,
    thresholds,
    status,
    rows: reportRows(values, thresholds),
    alerts,
    feedback,
    signOff,
  });

  const identifierValue = `${model.modelId}|${model.modelVersion}|${periodStart}|${periodEnd}`;
  const report: DiagnosticReport = {
    resourceType: 'DiagnosticReport',
    meta: { profile: [COMPLIANCE_REPORT_PROFILE], security: [AIAST] },
    identifier: [{ system: COMPLIANCE_REPORT_ID_SYSTEM, value: identifierValue }],
    // Unsigned reports stay preliminary until the sign-off names are given.
    status: signOff.length > 0 ? 'final' : 'preliminary',
    code: { coding: [COMPLIANCE_REPORT_CODE], text: COMPLIANCE_REPORT_CODE.display },
    subject: { reference: `Device/${deviceId}` },
    effectivePeriod: { start: periodStart, end: periodEnd },
    issued: generatedAt,
    // TODO: reference metric Observations in `result` once the analyzers write them to the FHIR server.
    conclusion: `${status.rule} ${values.length} metric values in ${new Set(values.map((value) => value.window)).size} windows; ${alerts.length} alerts; clinicians accepted ${sumOf(feedback, 'accepted')} and overrode ${sumOf(feedback, 'overridden')} AI results or Flags.`,
    presentedForm: [
      {
        contentType: 'application/pdf',
        language: 'en',
        title: `Compliance report ${model.modelId} ${model.modelVersion} ${periodStart.slice(0, 10)} to ${periodEnd.slice(0, 10)}`,
        creation: generatedAt,
        data: pdf.toString('base64'),
      },
    ],
  };

  // The identifier value contains `|`, which FHIR search escapes as `\|` inside a token's value.
  const token = `${COMPLIANCE_REPORT_ID_SYSTEM}|${identifierValue.replaceAll('|', '\\|')}`;
  const { status: httpStatus, resource } = await callFhir(
    target,
    'PUT',
    `DiagnosticReport?identifier=${encodeURIComponent(token)}`,
    report,
    { prefer: 'return=representation' }
  );
  if ((httpStatus !== 200 && httpStatus !== 201) || resource?.resourceType !== 'DiagnosticReport') {
    throw new UpstreamError(502, `Storing the compliance DiagnosticReport returned HTTP ${httpStatus}.`);
  }
  return resource;
}
