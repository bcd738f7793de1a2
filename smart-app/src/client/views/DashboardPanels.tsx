/**
 * Panels of the model dashboard that are not per-window line charts: the subgroup comparison, the
 * clinicians' accepted and overridden responses per day, and the alert timeline with the documented
 * response of each alert.
 */
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { alertTimeline, NO_RULE_RESPONSE_TEXT } from '../data/dashboard-series.js';
import { ALL_SUBGROUP, subgroupComparison, type MonitoringSummary } from '../data/monitoring-summary.js';
import { formatMetricValue } from '../format.js';
import { LINE_COLORS } from './MetricChart.js';
import { StatusBadge } from './StatusBadge.js';

/**
 * Metrics compared across subgroups, in order of preference: performance first, because differences
 * between subgroups matter most there. Without any of them the first metric with subgroup values is used.
 */
const SUBGROUP_METRICS = [
  'performance-sensitivity',
  'performance-specificity',
  'cbpe-auroc',
  'output-score-mean',
  'uncertainty-entropy-mean',
  'output-entropy-mean',
];

/** Picks the metric of the subgroup comparison, or undefined when no subgroup other than `all` has values. */
function comparedMetric(summary: MonitoringSummary): string | undefined {
  const withSubgroups = new Set(
    summary.windows
      .filter((window) => window.subgroup !== ALL_SUBGROUP)
      .flatMap((window) =>
        window.metrics.filter((metric) => metric.value !== undefined).map((metric) => metric.name)
      )
  );
  return SUBGROUP_METRICS.find((name) => withSubgroups.has(name)) ?? [...withSubgroups].sort()[0];
}

/** Renders the newest value of the first subgroup metric in each subgroup as bars and a table. */
export function SubgroupComparison({ summary }: { summary: MonitoringSummary }) {
  const metric = comparedMetric(summary);
  const rows = metric === undefined ? [] : subgroupComparison(summary, metric);
  return (
    <section className="chart-panel" aria-labelledby="subgroups-title" data-chart="subgroups">
      <h3 id="subgroups-title">Subgroup comparison{metric === undefined ? '' : `: ${metric}`}</h3>
      {metric === undefined ? (
        <p className="note" role="status">
          No subgroup other than “all” has metric values yet.
        </p>
      ) : (
        <>
          <div className="chart" aria-hidden="true">
            <ResponsiveContainer width="100%" height={200}>
              <BarChart
                data={rows}
                margin={{ top: 8, right: 24, bottom: 8, left: 8 }}
                // Not focusable: the table below is the keyboard and screen reader alternative.
                accessibilityLayer={false}
              >
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="subgroup" />
                <YAxis />
                <Tooltip />
                <Bar dataKey="value" fill="#1f5fa8" isAnimationActive={false} />
              </BarChart>
            </ResponsiveContainer>
          </div>
          <table className="chart-table">
            <caption>{metric} per subgroup, newest window of each</caption>
            <thead>
              <tr>
                <th scope="col">Subgroup</th>
                <th scope="col">Window</th>
                <th scope="col">Value</th>
                <th scope="col">n</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.subgroup}>
                  <th scope="row">{row.subgroup}</th>
                  <td>{row.window}</td>
                  <td>{Number(row.value.toPrecision(4))}</td>
                  <td>{row.n ?? '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

/** Renders the clinicians' accepted and overridden AI results and Flags per day as stacked bars and a table. */
export function ClinicianFeedback({ summary }: { summary: MonitoringSummary }) {
  const rows = summary.feedback;
  return (
    <section className="chart-panel" aria-labelledby="feedback-title" data-chart="feedback">
      <h3 id="feedback-title">Clinician responses (accepted and overridden)</h3>
      {rows.length === 0 ? (
        <p className="note" role="status">
          No clinician accepted or overrode an AI result or Flag of this model in these windows.
        </p>
      ) : (
        <>
          <div className="chart" aria-hidden="true">
            <ResponsiveContainer width="100%" height={200}>
              <BarChart
                data={rows}
                margin={{ top: 8, right: 24, bottom: 8, left: 8 }}
                accessibilityLayer={false}
              >
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="day" />
                <YAxis allowDecimals={false} />
                <Tooltip />
                <Legend />
                <Bar dataKey="accepted" stackId="responses" fill={LINE_COLORS[2]} isAnimationActive={false} />
                <Bar
                  dataKey="overridden"
                  stackId="responses"
                  fill={LINE_COLORS[1]}
                  isAnimationActive={false}
                />
              </BarChart>
            </ResponsiveContainer>
          </div>
          <table className="chart-table">
            <caption>
              Clinician responses per day, from CDS Hooks card feedback and Flag acknowledgements and
              overrides
            </caption>
            <thead>
              <tr>
                <th scope="col">Day</th>
                <th scope="col">Accepted</th>
                <th scope="col">Overridden</th>
                <th scope="col">Override rate</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.day}>
                  <th scope="row">{row.day}</th>
                  <td>{row.accepted}</td>
                  <td>{row.overridden}</td>
                  <td>{formatMetricValue(row.overrideRate)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

/**
 * Renders the alert timeline, newest first: each alert rule's event with the rule's documented response,
 * and each warning or critical value that no rule covers.
 */
export function AlertTimeline({ summary }: { summary: MonitoringSummary }) {
  const entries = alertTimeline(summary);
  return (
    <section className="chart-panel" aria-labelledby="alerts-title" data-chart="alerts">
      <h3 id="alerts-title">Alert timeline</h3>
      {entries.length === 0 ? (
        <p className="note">
          No alert rule fired and no metric reached a warning or critical status in these windows.
        </p>
      ) : (
        <ol className="alerts">
          {entries.map((entry) => (
            <li
              key={`${entry.window}|${entry.subgroup}|${entry.metric}|${entry.ruleId ?? ''}|${entry.status}`}
              data-rule={entry.ruleId}
            >
              <StatusBadge status={entry.status} /> <strong>{entry.window}</strong>:{' '}
              {entry.ruleId === undefined ? '' : `rule ${entry.ruleId}, `}
              {entry.metric} in subgroup {entry.subgroup}, value {formatMetricValue(entry.value)}
              {entry.threshold === undefined ? '' : `, threshold ${String(entry.threshold)}`}.{' '}
              {entry.response === undefined ? (
                <span className="response">{NO_RULE_RESPONSE_TEXT}</span>
              ) : (
                <span className="response">
                  Documented response ({entry.response.owner}): {entry.response.action}
                </span>
              )}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
