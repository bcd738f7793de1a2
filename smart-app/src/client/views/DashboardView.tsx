/**
 * Model dashboard: per-window plots of volume, output distribution, drift against its thresholds,
 * uncertainty and performance, a subgroup comparison and the alert timeline, all from one
 * `$monitoring-summary` call on the model's Device.
 */
import type { Device } from '@medplum/fhirtypes';
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { SmartClient } from '../fhir.js';
import { describeDevice, loadMonitoringSummary } from '../data/inventory.js';
import {
  alertsOf,
  seriesOf,
  subgroupComparison,
  volumeSeries,
  type ChartSeries,
  type MonitoringSummary,
} from '../data/monitoring-summary.js';
import { MetricChart } from './MetricChart.js';
import { StatusBadge } from './StatusBadge.js';
import { useLoad } from './use-load.js';

/** Metrics compared across subgroups, in order of preference. */
const SUBGROUP_METRICS = ['uncertainty-entropy-mean', 'output-score-mean', 'result-count'];

/** Text of every alert's response, because no store of alert responses exists yet. */
export const NO_RESPONSE_TEXT =
  'No documented response: MonitorMed stores no alert responses yet, so record the response in the compliance report.';

function onlyMetrics(series: ChartSeries, keep: (metric: string) => boolean): ChartSeries {
  return { ...series, metrics: series.metrics.filter(keep) };
}

function SubgroupComparison({ summary }: { summary: MonitoringSummary }) {
  const metric = SUBGROUP_METRICS.find((name) => subgroupComparison(summary, name).length > 0);
  const rows = metric === undefined ? [] : subgroupComparison(summary, metric);
  return (
    <section className="chart-panel" aria-labelledby="subgroups-title" data-chart="subgroups">
      <h3 id="subgroups-title">Subgroup comparison{metric === undefined ? '' : `: ${metric}`}</h3>
      {metric === undefined ? (
        <p className="note" role="status">
          No subgroup other than “all” has values of {SUBGROUP_METRICS.join(', ')} yet.
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

function AlertTimeline({ summary }: { summary: MonitoringSummary }) {
  const alerts = alertsOf(summary);
  return (
    <section className="chart-panel" aria-labelledby="alerts-title" data-chart="alerts">
      <h3 id="alerts-title">Alert timeline</h3>
      {alerts.length === 0 ? (
        <p className="note">No metric reached a warning or critical status in the stored windows.</p>
      ) : (
        <ol className="alerts">
          {alerts.map((alert) => (
            <li key={`${alert.window}|${alert.subgroup}|${alert.name}`}>
              <StatusBadge status={alert.status} /> <strong>{alert.window}</strong>: {alert.name} in subgroup{' '}
              {alert.subgroup}, value {alert.value === undefined ? '–' : Number(alert.value.toPrecision(4))}
              {alert.threshold === undefined ? '' : `, threshold ${String(alert.threshold)}`}.{' '}
              <span className="response">{NO_RESPONSE_TEXT}</span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

/** Renders the dashboard of the model Device `deviceId`. */
export function DashboardView({ client, deviceId }: { client: SmartClient; deviceId: string }) {
  const state = useLoad(async () => {
    const [device, summary] = await Promise.all([
      client.request<Device>(`Device/${encodeURIComponent(deviceId)}`),
      loadMonitoringSummary(client, deviceId),
    ]);
    return { model: describeDevice({ ...device, id: deviceId }), summary };
  }, [client, deviceId]);

  if (state.kind === 'loading') {
    return (
      <p role="status" aria-live="polite">
        Loading the model dashboard…
      </p>
    );
  }
  if (state.kind === 'failed') {
    return (
      <section className="notice problem" role="alert">
        <h2>Model dashboard unavailable</h2>
        <p>
          The Device or its $monitoring-summary could not be read: {state.message}. Go back to the{' '}
          <a href="#/inventory">model inventory</a>.
        </p>
      </section>
    );
  }

  const { model, summary } = state.value;
  const other = seriesOf(summary, 'other');
  return (
    <section aria-labelledby="dashboard-title">
      <h2 id="dashboard-title">
        {model.name} {model.version ?? ''}: monitoring dashboard
      </h2>
      <p>
        Status <StatusBadge status={summary.status} />. {summary.rule} Volume: {summary.volume} results.{' '}
        <a href={`#/models/${deviceId}/report`}>Compliance report</a>
      </p>
      <div className="charts">
        <MetricChart
          id="volume"
          title="Volume per day"
          rows={volumeSeries(summary)}
          metrics={['volume']}
          emptyMessage="No daily windows are stored for this model yet."
        />
        <MetricChart
          id="output"
          title="Output distribution (mean score per day)"
          {...onlyMetrics(other, (metric) => metric.startsWith('output-'))}
          emptyMessage="No output score metrics are stored for this model yet."
        />
        <MetricChart
          id="drift"
          title="Drift per feature against its threshold"
          {...seriesOf(summary, 'drift')}
          emptyMessage="No drift metrics are stored for this model yet."
        />
        <MetricChart
          id="uncertainty"
          title="Uncertainty (mean predictive entropy in bits)"
          {...seriesOf(summary, 'uncertainty')}
          emptyMessage="No uncertainty metrics are stored for this model yet."
        />
        <MetricChart
          id="performance"
          title="Performance, measured and estimated"
          {...seriesOf(summary, 'performance')}
          emptyMessage="No performance metrics are stored for this model yet: they need ground-truth labels or a CBPE estimate."
        />
        <SubgroupComparison summary={summary} />
        <AlertTimeline summary={summary} />
      </div>
      {/* NOTE: $monitoring-summary returns no confidence intervals, so the performance plot shows point values only. */}
    </section>
  );
}
