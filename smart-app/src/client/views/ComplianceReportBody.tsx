/**
 * The printable body of a compliance report: methods, thresholds, results, alerts with their documented
 * responses, the responses taken, and sign-off fields. It shows the `$monitoring-summary` of the same
 * period as the PDF that `$compliance-report` stored.
 */
import type { DiagnosticReport } from '@medplum/fhirtypes';
import { alertTimeline, NO_RULE_RESPONSE_TEXT } from '../data/dashboard-series.js';
import type { MetricPoint, MonitoringSummary } from '../data/monitoring-summary.js';
import { formatMetricValue } from '../format.js';
import { StatusBadge } from './StatusBadge.js';

/** Returns each metric's threshold, from the newest window that has one. */
function thresholdsOf(metrics: readonly MetricPoint[]): [string, MetricPoint][] {
  const newest = new Map<string, MetricPoint>();
  for (const metric of metrics) {
    const seen = newest.get(metric.name);
    if (metric.threshold !== undefined && (seen === undefined || metric.window > seen.window)) {
      newest.set(metric.name, metric);
    }
  }
  return [...newest.entries()].sort(([a], [b]) => a.localeCompare(b));
}

function formatResult(metric: MetricPoint): string {
  if (metric.value === undefined) {
    return '–';
  }
  const value = String(Number(metric.value.toPrecision(6)));
  return metric.lower === undefined || metric.upper === undefined
    ? value
    : `${value} (${formatMetricValue(metric.lower)} to ${formatMetricValue(metric.upper)})`;
}

function Methods() {
  return (
    <ul>
      <li>
        Uncertainty: the binary predictive entropy of each reported probability, in bits. A window whose mean
        is at or above the threshold is a warning.
      </li>
      <li>
        Drift: the output scores, their entropy and each input feature of a window are tested against the
        pooled reference windows, with the test and threshold stored beside each value. Detected output drift
        makes the model critical, other detected drift is a warning.
      </li>
      <li>
        Performance, measured: sensitivity, specificity, PPV and NPV against the linked ground-truth labels
        with Wilson 95% intervals, and AUROC with DeLong 95% intervals.
      </li>
      <li>
        Performance, estimated: confidence-based performance estimation (CBPE) from the scores alone,
        calibrated on a labelled reference period, with a band of 3 sampling errors.
      </li>
      <li>
        Alert rules: an alert opens after the rule's number of consecutive breaching windows and records the
        rule's documented response.
      </li>
    </ul>
  );
}

/** Renders the report of one period. */
export function ComplianceReportBody({
  summary,
  report,
  signOff,
}: {
  summary: MonitoringSummary;
  report: DiagnosticReport;
  /** Names entered for the sign-off; the report is preliminary without them. */
  signOff: string[];
}) {
  const metrics = summary.windows.flatMap((window) => window.metrics);
  const timeline = alertTimeline(summary);
  const opened = timeline.filter((entry) => entry.ruleId !== undefined && entry.status === 'opened');
  return (
    <article className="report" aria-labelledby="report-title">
      <h3 id="report-title">{report.presentedForm?.[0]?.title ?? 'Compliance report'}</h3>
      <p>
        Report status: <strong>{report.status}</strong> (DiagnosticReport/{report.id}). Model status{' '}
        <StatusBadge status={summary.status} />. {report.conclusion}
      </p>

      <h4>Methods</h4>
      <Methods />

      <h4>Thresholds</h4>
      <table className="report-table" data-section="thresholds">
        <caption>Threshold of each metric, as stored with its newest value</caption>
        <thead>
          <tr>
            <th scope="col">Metric</th>
            <th scope="col">Test</th>
            <th scope="col">Threshold</th>
          </tr>
        </thead>
        <tbody>
          {thresholdsOf(metrics).map(([name, metric]) => (
            <tr key={name}>
              <th scope="row">{name}</th>
              <td>{metric.test ?? '–'}</td>
              <td>{metric.threshold}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <h4>Results</h4>
      <table className="report-table" data-section="results">
        <caption>Metric values per window and subgroup, with 95% intervals where stored</caption>
        <thead>
          <tr>
            <th scope="col">Window</th>
            <th scope="col">Subgroup</th>
            <th scope="col">Metric</th>
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
              <td>{formatResult(metric)}</td>
              <td>{metric.n ?? '–'}</td>
              <td>{metric.threshold ?? '–'}</td>
              <td>
                <StatusBadge status={metric.status} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>

      <h4>Alerts and documented responses</h4>
      {timeline.length === 0 ? (
        <p>No alerts in this period.</p>
      ) : (
        <ul data-section="alerts">
          {timeline.map((entry) => (
            <li
              key={`${entry.window}|${entry.subgroup}|${entry.metric}|${entry.ruleId ?? ''}|${entry.status}`}
            >
              {entry.window} {entry.ruleId === undefined ? '' : `rule ${entry.ruleId}, `}
              {entry.metric} ({entry.status}, subgroup {entry.subgroup}).{' '}
              {entry.response === undefined
                ? NO_RULE_RESPONSE_TEXT
                : `Documented response (${entry.response.owner}): ${entry.response.action}`}
            </li>
          ))}
        </ul>
      )}

      <h4>Responses taken</h4>
      {summary.feedback.length === 0 ? (
        <p>No clinician accepted or overrode an AI result or Flag of this model in the period.</p>
      ) : (
        <table className="report-table" data-section="responses">
          <caption>Clinician responses to AI results and Flags per day</caption>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Accepted</th>
              <th scope="col">Overridden</th>
              <th scope="col">Override rate</th>
            </tr>
          </thead>
          <tbody>
            {summary.feedback.map((day) => (
              <tr key={day.day}>
                <th scope="row">{day.day}</th>
                <td>{day.accepted}</td>
                <td>{day.overridden}</td>
                <td>{formatMetricValue(day.overrideRate)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {opened.length === 0 ? null : (
        <dl className="sign-off" data-section="alert-responses">
          {opened.map((entry) => (
            <div key={`${entry.window}|${entry.subgroup}|${entry.ruleId ?? ''}`}>
              <dt>
                Response taken to alert {entry.ruleId} ({entry.window}, subgroup {entry.subgroup})
              </dt>
              <dd>________________________ By ____________ Date ____________</dd>
            </div>
          ))}
        </dl>
      )}

      <h4>Sign-off</h4>
      <dl className="sign-off" data-section="sign-off">
        {(signOff.length === 0 ? [undefined] : signOff).map((name, index) => (
          <div key={name ?? `blank-${String(index)}`}>
            <dt>Reviewed by</dt>
            <dd>{name ?? '________________________'}</dd>
            <dt>Signature</dt>
            <dd>________________________</dd>
            <dt>Date</dt>
            <dd>________________________</dd>
          </div>
        ))}
      </dl>
    </article>
  );
}
