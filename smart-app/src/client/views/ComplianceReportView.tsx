/**
 * Compliance report of one model and period: the form, then the report body (ComplianceReportBody.tsx)
 * with a print layout (styles.css `@media print`), and the PDF that `$compliance-report` stores as a
 * DiagnosticReport and returns in `presentedForm`.
 */
import { useState, type SyntheticEvent } from 'react';
import type { DiagnosticReport } from '@medplum/fhirtypes';
import type { SmartClient } from '../fhir.js';
import { describeFailure, loadMonitoringSummary } from '../data/inventory.js';
import type { MonitoringSummary } from '../data/monitoring-summary.js';
import {
  buildComplianceReportParameters,
  complianceReportPath,
  pdfOf,
  signOffNames,
  type ReportPeriod,
} from '../data/compliance-report.js';
import { ComplianceReportBody } from './ComplianceReportBody.js';

type ReportState =
  | { kind: 'idle' }
  | { kind: 'running' }
  | {
      kind: 'done';
      summary: MonitoringSummary;
      report: DiagnosticReport;
      signOff: string[];
      pdfUrl: string | undefined;
    }
  | { kind: 'failed'; message: string };

function daysAgo(days: number): string {
  return new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
}

/** Renders the report form and, once created, the printable report with its PDF download. */
export function ComplianceReportView({ client, deviceId }: { client: SmartClient; deviceId: string }) {
  const [period, setPeriod] = useState<ReportPeriod>({ start: daysAgo(30), end: daysAgo(-1), signOff: '' });
  const [state, setState] = useState<ReportState>({ kind: 'idle' });

  const create = async (event: SyntheticEvent) => {
    event.preventDefault();
    setState({ kind: 'running' });
    try {
      const [summary, report] = await Promise.all([
        loadMonitoringSummary(client, deviceId, { from: period.start, to: period.end }),
        client.request<DiagnosticReport>({
          url: complianceReportPath(deviceId),
          method: 'POST',
          headers: { 'content-type': 'application/fhir+json' },
          body: JSON.stringify(buildComplianceReportParameters(period)),
        }),
      ]);
      const pdf = pdfOf(report);
      setState({
        kind: 'done',
        summary,
        report,
        signOff: signOffNames(period),
        pdfUrl:
          pdf === undefined ? undefined : URL.createObjectURL(new Blob([pdf], { type: 'application/pdf' })),
      });
    } catch (error) {
      setState({ kind: 'failed', message: describeFailure(error) });
    }
  };

  return (
    <section aria-labelledby="compliance-title">
      <h2 id="compliance-title">Compliance report</h2>
      <form className="report-form no-print" onSubmit={(event) => void create(event)}>
        <label>
          Period start{' '}
          <input
            type="date"
            required
            value={period.start}
            onChange={(e) => {
              setPeriod({ ...period, start: e.target.value });
            }}
          />
        </label>
        <label>
          Period end{' '}
          <input
            type="date"
            required
            value={period.end}
            onChange={(e) => {
              setPeriod({ ...period, end: e.target.value });
            }}
          />
        </label>
        <label>
          Sign-off names (comma-separated, leave empty for a preliminary report){' '}
          <input
            type="text"
            value={period.signOff}
            onChange={(e) => {
              setPeriod({ ...period, signOff: e.target.value });
            }}
          />
        </label>
        <button type="submit" disabled={state.kind === 'running'}>
          Create report
        </button>
      </form>
      {state.kind === 'running' ? (
        <p role="status" aria-live="polite">
          Creating the report…
        </p>
      ) : null}
      {state.kind === 'failed' ? (
        <p className="notice problem" role="alert">
          $compliance-report failed: {state.message}. Check the period (start before end) and try again.
        </p>
      ) : null}
      {state.kind === 'done' ? (
        <>
          <p className="no-print">
            {state.pdfUrl === undefined ? (
              'The stored report has no PDF attachment.'
            ) : (
              <a href={state.pdfUrl} download={`compliance-report-${deviceId}.pdf`}>
                Download the PDF
              </a>
            )}{' '}
            <button
              type="button"
              onClick={() => {
                window.print();
              }}
            >
              Print
            </button>
          </p>
          <ComplianceReportBody summary={state.summary} report={state.report} signOff={state.signOff} />
        </>
      ) : null}
    </section>
  );
}
