/**
 * Model dashboard: per-window plots of volume, output distribution, drift per feature against its
 * threshold, uncertainty, and performance measured and estimated with 95% intervals. Below them come a
 * subgroup comparison, the clinicians' responses and the alert timeline. Everything comes from one
 * `$monitoring-summary` call on the model's Device.
 */
import type { Device } from '@medplum/fhirtypes';
import type { SmartClient } from '../fhir.js';
import { describeDevice, loadMonitoringSummary } from '../data/inventory.js';
import { metricStatuses, outputDistribution, performancePanels } from '../data/dashboard-series.js';
import { seriesOf, volumeSeries, type ChartRow, type MonitoringSummary } from '../data/monitoring-summary.js';
import { AlertTimeline, ClinicianFeedback, SubgroupComparison } from './DashboardPanels.js';
import { MetricChart } from './MetricChart.js';
import { OutputDistributionChart } from './OutputDistributionChart.js';
import { PerformanceChart } from './PerformanceChart.js';
import { StatusBadge } from './StatusBadge.js';
import { useLoad } from './use-load.js';

/**
 * Tells whether a metric's values need a log scale: all positive and spanning more than three orders of
 * magnitude, as p-values of detected drift do beside a threshold such as 0.01.
 */
function needsLogScale(rows: ChartRow[], metric: string): boolean {
  const values = rows.map((row) => row[metric]).filter((value): value is number => typeof value === 'number');
  return (
    values.length > 0 &&
    values.every((value) => value > 0) &&
    Math.max(...values) / Math.min(...values) > 1_000
  );
}

/** Renders one chart per drift metric (the output, the uncertainty and each input feature) with its threshold. */
function DriftCharts({ summary }: { summary: MonitoringSummary }) {
  const drift = seriesOf(summary, 'drift');
  return (
    <section className="chart-panel wide" aria-labelledby="drift-title" data-chart="drift">
      <h3 id="drift-title">Drift per feature against its threshold</h3>
      {drift.metrics.length === 0 ? (
        <p className="note" role="status">
          No drift metrics are stored for this model yet.
        </p>
      ) : (
        <div className="small-multiples">
          {drift.metrics.map((metric) => (
            <div key={metric} data-drift-metric={metric}>
              <MetricChart
                id={`drift-${metric.replace(/[^A-Za-z0-9-]/g, '-')}`}
                title={metric}
                headingLevel={4}
                rows={drift.rows}
                metrics={[metric]}
                thresholds={drift.thresholds}
                statuses={metricStatuses(summary, metric)}
                yScale={needsLogScale(drift.rows, metric) ? 'log' : 'linear'}
                emptyMessage={`No values of ${metric} are stored yet.`}
              />
            </div>
          ))}
        </div>
      )}
    </section>
  );
}

function PerformanceCharts({ summary }: { summary: MonitoringSummary }) {
  const panels = performancePanels(summary);
  return (
    <section className="chart-panel wide" aria-labelledby="performance-title" data-chart="performance">
      <h3 id="performance-title">Performance, measured and estimated, with 95% intervals</h3>
      {panels.length === 0 ? (
        <p className="note" role="status">
          No performance metrics are stored for this model yet: they need ground-truth labels or a CBPE
          estimate.
        </p>
      ) : (
        <div className="small-multiples">
          {panels.map((panel) => (
            <PerformanceChart key={panel.quantity} panel={panel} />
          ))}
        </div>
      )}
    </section>
  );
}

/** Renders the dashboard of the model Device `deviceId`. */
export function DashboardView({ client, deviceId }: { client: SmartClient; deviceId: string }) {
  const state = useLoad(
    async (signal) => {
      const [device, summary] = await Promise.all([
        client.request<Device>({ url: `Device/${encodeURIComponent(deviceId)}`, signal }),
        loadMonitoringSummary(client, deviceId, {}, signal),
      ]);
      return { model: describeDevice({ ...device, id: deviceId }), summary };
    },
    [client, deviceId]
  );

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
        <OutputDistributionChart rows={outputDistribution(summary)} />
        <MetricChart
          id="uncertainty"
          title="Uncertainty (mean predictive entropy in bits)"
          {...seriesOf(summary, 'uncertainty')}
          emptyMessage="No uncertainty metrics are stored for this model yet."
        />
        <SubgroupComparison summary={summary} />
        <DriftCharts summary={summary} />
        <PerformanceCharts summary={summary} />
        <ClinicianFeedback summary={summary} />
        <AlertTimeline summary={summary} />
      </div>
    </section>
  );
}
