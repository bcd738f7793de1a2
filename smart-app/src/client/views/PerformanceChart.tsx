/**
 * One performance quantity, such as sensitivity, per window: the measured metric (solid line) and the
 * CBPE estimate (dashed line), each with its 95% interval as a shaded band, followed by the same numbers
 * as a data table.
 */
import {
  Area,
  CartesianGrid,
  ComposedChart,
  Legend,
  Line,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { IntervalValue, PerformancePanel } from '../data/dashboard-series.js';
import { formatMetricValue } from '../format.js';
import { LINE_COLORS } from './MetricChart.js';

type PlotRow = { window: string } & Record<string, number | [number, number] | string | undefined>;

function intervalKey(metric: string): string {
  return `${metric} 95% interval`;
}

function plotRows(panel: PerformancePanel): PlotRow[] {
  return panel.rows.map((row) => {
    const plotted: PlotRow = { window: row.window };
    for (const [metric, interval] of Object.entries(row.values)) {
      plotted[metric] = interval.value;
      if (interval.lower !== undefined && interval.upper !== undefined) {
        plotted[intervalKey(metric)] = [interval.lower, interval.upper];
      }
    }
    return plotted;
  });
}

function formatInterval(interval: IntervalValue | undefined): string {
  if (interval?.value === undefined) {
    return '–';
  }
  const value = formatMetricValue(interval.value);
  if (interval.lower === undefined || interval.upper === undefined) {
    return value;
  }
  return `${value} (95% interval ${formatMetricValue(interval.lower)} to ${formatMetricValue(interval.upper)})`;
}

/** Renders the chart and table of one performance quantity. */
export function PerformanceChart({ panel }: { panel: PerformancePanel }) {
  const id = `performance-${panel.quantity}`;
  const rows = plotRows(panel);
  const hasBand = (metric: string) => rows.some((row) => Array.isArray(row[intervalKey(metric)]));
  return (
    <section className="chart-panel" aria-labelledby={`${id}-title`} data-performance={panel.quantity}>
      <h4 id={`${id}-title`}>{panel.quantity}</h4>
      {/* The SVG is hidden from assistive technology because the table below carries the same numbers. */}
      <div className="chart" aria-hidden="true">
        <ResponsiveContainer width="100%" height={200}>
          <ComposedChart
            data={rows}
            margin={{ top: 8, right: 24, bottom: 8, left: 8 }}
            accessibilityLayer={false}
          >
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="window" />
            <YAxis domain={['auto', 'auto']} />
            <Tooltip />
            <Legend />
            {panel.series.map((series, index) => {
              const color = LINE_COLORS[index % LINE_COLORS.length];
              return hasBand(series.metric) ? (
                <Area
                  key={intervalKey(series.metric)}
                  type="linear"
                  dataKey={intervalKey(series.metric)}
                  stroke="none"
                  fill={color}
                  fillOpacity={0.15}
                  isAnimationActive={false}
                  connectNulls
                />
              ) : null;
            })}
            {panel.series.map((series, index) => (
              <Line
                key={series.metric}
                type="linear"
                dataKey={series.metric}
                name={`${series.metric} (${series.estimated ? 'estimated' : 'measured'})`}
                stroke={LINE_COLORS[index % LINE_COLORS.length]}
                strokeDasharray={series.estimated ? '6 4' : undefined}
                isAnimationActive={false}
                connectNulls
              />
            ))}
          </ComposedChart>
        </ResponsiveContainer>
      </div>
      <table className="chart-table">
        <caption>{panel.quantity}: measured and estimated values per window with their 95% intervals</caption>
        <thead>
          <tr>
            <th scope="col">Window</th>
            {panel.series.map((series) => (
              <th scope="col" key={series.metric}>
                {series.metric} ({series.estimated ? 'estimated' : 'measured'})
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {panel.rows.map((row) => (
            <tr key={row.window}>
              <th scope="row">{row.window}</th>
              {panel.series.map((series) => (
                <td key={series.metric}>{formatInterval(row.values[series.metric])}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
