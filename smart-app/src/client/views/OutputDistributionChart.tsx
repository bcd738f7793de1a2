/**
 * The output score distribution per window: the 10th to 90th and the 25th to 75th percentile as shaded
 * bands, the median and the mean as lines, followed by the same numbers as a data table.
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
import type { DistributionRow } from '../data/dashboard-series.js';
import { formatMetricValue } from '../format.js';
import { LINE_COLORS } from './MetricChart.js';

/** Percentile columns of the table, in order. */
const PERCENTILES = ['p10', 'p25', 'p50', 'p75', 'p90'];

function band(row: DistributionRow, low: string, high: string): [number, number] | undefined {
  const lower = row.quantiles[low];
  const upper = row.quantiles[high];
  return lower === undefined || upper === undefined ? undefined : [lower, upper];
}

/** Renders the output distribution chart and table, or a note when no window has score quantiles. */
export function OutputDistributionChart({ rows }: { rows: DistributionRow[] }) {
  const hasQuantiles = rows.some((row) => Object.keys(row.quantiles).length > 0);
  const plotted = rows.map((row) => ({
    window: row.window,
    'p10 to p90': band(row, 'p10', 'p90'),
    'p25 to p75': band(row, 'p25', 'p75'),
    median: row.quantiles['p50'],
    mean: row.mean,
  }));
  return (
    <section className="chart-panel" aria-labelledby="output-title" data-chart="output">
      <h3 id="output-title">Output distribution (score percentiles and mean per day)</h3>
      {rows.length === 0 ? (
        <p className="note" role="status">
          No output scores are stored for this model yet.
        </p>
      ) : (
        <>
          {hasQuantiles ? null : (
            <p className="note">
              The evaluation store has no score sketches for these windows, so only the mean is plotted.
            </p>
          )}
          {/* The SVG is hidden from assistive technology because the table below carries the same numbers. */}
          <div className="chart" aria-hidden="true">
            <ResponsiveContainer width="100%" height={220}>
              <ComposedChart
                data={plotted}
                margin={{ top: 8, right: 24, bottom: 8, left: 8 }}
                accessibilityLayer={false}
              >
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="window" />
                <YAxis domain={[0, 1]} />
                <Tooltip />
                <Legend />
                <Area
                  type="linear"
                  dataKey="p10 to p90"
                  stroke="none"
                  fill={LINE_COLORS[0]}
                  fillOpacity={0.15}
                  isAnimationActive={false}
                />
                <Area
                  type="linear"
                  dataKey="p25 to p75"
                  stroke="none"
                  fill={LINE_COLORS[0]}
                  fillOpacity={0.3}
                  isAnimationActive={false}
                />
                <Line
                  type="linear"
                  dataKey="median"
                  stroke={LINE_COLORS[0]}
                  isAnimationActive={false}
                  connectNulls
                />
                <Line
                  type="linear"
                  dataKey="mean"
                  stroke={LINE_COLORS[1]}
                  strokeDasharray="6 4"
                  isAnimationActive={false}
                  connectNulls
                />
              </ComposedChart>
            </ResponsiveContainer>
          </div>
          <table className="chart-table">
            <caption>Output score percentiles and mean per window</caption>
            <thead>
              <tr>
                <th scope="col">Window</th>
                {PERCENTILES.map((name) => (
                  <th scope="col" key={name}>
                    {name}
                  </th>
                ))}
                <th scope="col">Mean</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.window}>
                  <th scope="row">{row.window}</th>
                  {PERCENTILES.map((name) => (
                    <td key={name}>{formatMetricValue(row.quantiles[name])}</td>
                  ))}
                  <td>{formatMetricValue(row.mean)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
