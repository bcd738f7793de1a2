/**
 * One line chart of per-window metric values, drawn with Recharts as SVG, followed by the same numbers as
 * a data table, so screen reader users and printouts get the values (WCAG 1.1.1, text alternatives).
 */
import {
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ReferenceLine,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { ChartRow } from '../data/monitoring-summary.js';
import { formatMetricValue } from '../format.js';
import { StatusBadge } from './StatusBadge.js';

/** Line colors, each above 4.5:1 contrast against white and the page background (WCAG 1.4.11 asks 3:1). */
export const LINE_COLORS = ['#1f5fa8', '#a83a1f', '#2e7d32', '#6a3fa0', '#8a5a00'];

/** Props of {@link MetricChart}. */
export interface MetricChartProps {
  /** Heading of the chart, also its accessible name. */
  title: string;
  /** Id prefix, unique on the page, for the heading and the table. */
  id: string;
  rows: ChartRow[];
  metrics: string[];
  /** Threshold line per metric; a metric without one gets no line. */
  thresholds?: Map<string, number>;
  /** Shown instead of the chart when no row has a value. */
  emptyMessage: string;
  /** Status per window, shown as a table column, such as whether drift was detected. */
  statuses?: Map<string, string>;
  /** Heading level: 3 for a panel of the dashboard, 4 for a chart inside a panel. */
  headingLevel?: 3 | 4;
  /** A log scale shows p-values that span many orders of magnitude beside their threshold. */
  yScale?: 'linear' | 'log';
}

/** Renders the chart and its data table, or `emptyMessage` when there is nothing to plot. */
export function MetricChart({
  title,
  id,
  rows,
  metrics,
  thresholds,
  emptyMessage,
  statuses,
  headingLevel = 3,
  yScale = 'linear',
}: MetricChartProps) {
  const hasData =
    metrics.length > 0 && rows.some((row) => metrics.some((metric) => typeof row[metric] === 'number'));
  const Heading = headingLevel === 3 ? 'h3' : 'h4';
  return (
    <section className="chart-panel" aria-labelledby={`${id}-title`} data-chart={id}>
      <Heading id={`${id}-title`}>{title}</Heading>
      {!hasData ? (
        <p className="note" role="status">
          {emptyMessage}
        </p>
      ) : (
        <>
          {/* The SVG is hidden from assistive technology because the table below carries the same numbers. */}
          <div className="chart" aria-hidden="true">
            <ResponsiveContainer width="100%" height={220}>
              <LineChart
                data={rows}
                margin={{ top: 8, right: 24, bottom: 8, left: 8 }}
                // Recharts 3 makes the SVG focusable for its keyboard tooltip, which axe rejects inside
                // aria-hidden, so keyboard and screen reader users read the table below instead.
                accessibilityLayer={false}
              >
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="window" />
                {yScale === 'log' ? (
                  <YAxis
                    scale="log"
                    domain={['auto', 'auto']}
                    allowDataOverflow
                    tickFormatter={(tick: number) => tick.toExponential(0)}
                  />
                ) : (
                  <YAxis />
                )}
                <Tooltip />
                <Legend />
                {metrics.map((metric, index) => (
                  <Line
                    key={metric}
                    type="linear"
                    dataKey={metric}
                    stroke={LINE_COLORS[index % LINE_COLORS.length]}
                    isAnimationActive={false}
                    connectNulls
                  />
                ))}
                {[...(thresholds ?? new Map<string, number>()).entries()]
                  .filter(([metric]) => metrics.includes(metric))
                  .map(([metric, threshold]) => (
                    <ReferenceLine
                      key={`threshold-${metric}`}
                      y={threshold}
                      stroke="#b00020"
                      strokeDasharray="6 3"
                      label={`threshold ${metric}`}
                    />
                  ))}
              </LineChart>
            </ResponsiveContainer>
          </div>
          <table className="chart-table">
            <caption>{title}: values per window</caption>
            <thead>
              <tr>
                <th scope="col">Window</th>
                {metrics.map((metric) => (
                  <th scope="col" key={metric}>
                    {metric}
                    {thresholds?.has(metric) === true
                      ? ` (threshold ${formatMetricValue(thresholds.get(metric))})`
                      : ''}
                  </th>
                ))}
                {statuses === undefined ? null : <th scope="col">Status</th>}
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.window}>
                  <th scope="row">{row.window}</th>
                  {metrics.map((metric) => (
                    <td key={metric}>{formatMetricValue(row[metric])}</td>
                  ))}
                  {statuses === undefined ? null : (
                    <td>
                      <StatusBadge status={statuses.get(row.window) ?? 'not computed'} />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
