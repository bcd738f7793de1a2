/**
 * Compliance report of one model and period: the methods, thresholds, results and alerts from
 * `$monitoring-summary`, sign-off fields, a print layout (styles.css `@media print`), and the PDF that
 * `$compliance-report` stores as a DiagnosticReport and returns in `presentedForm`.
 */
import { useState, type SyntheticEvent } from 'react';
import type { DiagnosticReport } from '@medplum/fhirtypes';
import type { SmartClient } from '../fhir.js';
import { describeFailure, loadMonitoringSummary } from '../data/inventory.js';
import { alertsOf, type MonitoringSummary } from '../data/monitoring-summary.js';
import { buildComplianceReportQuery, pdfOf, type ReportPeriod } from '../data/compliance-report.js';
import { NO_RESPONSE_TEXT } from './DashboardView.js';
import { StatusBadge } from './StatusBadge.js';

type ReportState =
  | { kind: 'idle' }
  | { kind: 'running' }
  | { kind: 'done'; summary: MonitoringSummary; report: DiagnosticReport; pdfUrl: string | undefined }
  | { kind: 'failed'; message: string };

function daysAgo(days: number): string {
  return new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
}

function ReportBody({ summary, report }: { summary: MonitoringSummary; report: DiagnosticReport }) {
  const metrics = summary.windows.flatMap((window) => window.metrics);
  const alerts = alertsOf(summary);
  return (
    <article className="report" aria-labelledby="report-title">
      <h3 id="report-title">{report.presentedForm?.[0]?.title ?? 'Compliance report'}</h3>
      <p>
        Report status: <strong>{report.status}</strong> (DiagnosticReport/{report.id}). Model status{' '}
        <StatusBadge status={summary.status} />. {report.conclusion}
      </p>

      <h4>Methods and thresholds</h4>
      <p>
        Uncertainty is the binary predictive entropy of each reported probability, in bits. Drift tests and
        their thresholds are the ones the analyzers stored with each metric; detected output drift makes the
        model critical, other detected drift and high mean uncertainty are warnings.
      </p>

      <h4>Results</h4>
      <table className="report-table">
        <caption>Metric values per window and subgroup</caption>
        <thead>
          <tr>
            <th scope="col">Window</th>
            <th scope="col">Subgroup</th>
            <th scope="col">Metric</th>
            <th scope="col">Test</th>
            <th scope="col">Value</th>
            <th scope="col">n</th>
            <th scope="col">Threshold</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {metrics.map((metric) => (
            <tr key={`${metric.window}|${metric.subgroup}|${metric.name}`}>
              <td>{metric.window}</td>
              <td>{metric.subgroup}</td>
              <td>{metric.name}</td>
              <td>{metric.test ?? '–'}</td>
              <td>{metric.value === undefined ? '–' : Number(metric.value.toPrecision(6))}</td>
              <td>{metric.n ?? '–'}</td>
              <td>{metric.threshold ?? '–'}</td>
              <td>
                <StatusBadge status={metric.status} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>

      <h4>Alerts and responses</h4>
      {alerts.length === 0 ? (
        <p>No alerts in this period.</p>
      ) : (
        <ul>
          {alerts.map((alert) => (
            <li key={`${alert.window}|${alert.subgroup}|${alert.name}`}>
              {alert.window} {alert.name} ({alert.status}, subgroup {alert.subgroup}). {NO_RESPONSE_TEXT}
            </li>
          ))}
        </ul>
      )}

      <h4>Sign-off</h4>
      <dl className="sign-off">
        <dt>Reviewed by</dt>
        <dd>{report.status === 'final' ? 'see the signed PDF' : '________________________'}</dd>
        <dt>Signature</dt>
        <dd>________________________</dd>
        <dt>Date</dt>
        <dd>________________________</dd>
      </dl>
    </article>
  );
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
        client.request<DiagnosticReport>(buildComplianceReportQuery(deviceId, period)),
      ]);
      const pdf = pdfOf(report);
      setState({
        kind: 'done',
        summary,
        report,
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
          <ReportBody summary={state.summary} report={state.report} />
        </>
      ) : null}
    </section>
  );
}
