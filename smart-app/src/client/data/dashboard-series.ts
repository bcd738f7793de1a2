/**
 * Builds the dashboard's richer series from a parsed `$monitoring-summary`: the output score quantiles
 * per window and the performance metrics with their 95% intervals, measured beside estimated. It also
 * builds the alert timeline, which joins the alert rules' events with the status findings that no rule
 * covers.
 */
import { ALL_SUBGROUP, alertsOf, type MonitoringSummary } from './monitoring-summary.js';

/** One window of the output distribution: quantiles keyed `p10`, `p50` and so on, and the mean score. */
export interface DistributionRow {
  window: string;
  quantiles: Record<string, number>;
  /** Mean score of the window (the `output-score-mean` metric), when stored. */
  mean: number | undefined;
}

/** Names a quantile by its percentile, such as `p50` for probability 0.5. */
export function quantileName(probability: number): string {
  return `p${String(Math.round(probability * 100))}`;
}

/**
 * Builds the output distribution per window of one subgroup, oldest first. Windows without quantiles
 * or mean are left out.
 */
export function outputDistribution(summary: MonitoringSummary, subgroup = ALL_SUBGROUP): DistributionRow[] {
  return summary.windows
    .filter((window) => window.subgroup === subgroup)
    .sort((a, b) => a.window.localeCompare(b.window))
    .map((window) => ({
      window: window.window,
      quantiles: Object.fromEntries(
        window.outputQuantiles.map((quantile) => [quantileName(quantile.probability), quantile.value])
      ),
      mean: window.metrics.find((metric) => metric.name === 'output-score-mean')?.value,
    }))
    .filter((row) => Object.keys(row.quantiles).length > 0 || row.mean !== undefined);
}

/** One metric of a performance panel. */
export interface PerformanceSeries {
  metric: string;
  /** True for a CBPE estimate, false when measured against labels. */
  estimated: boolean;
}

/** A value with its 95% interval; the interval limits are undefined when none was stored. */
export interface IntervalValue {
  value: number | undefined;
  lower: number | undefined;
  upper: number | undefined;
}

/** One performance quantity, such as sensitivity, measured and estimated per window. */
export interface PerformancePanel {
  /** The quantity: the metric name without its `performance-` or `cbpe-` prefix. */
  quantity: string;
  series: PerformanceSeries[];
  /** Oldest window first; `values` is keyed by metric name. */
  rows: { window: string; values: Record<string, IntervalValue> }[];
}

const MEASURED_PREFIX = 'performance-';
const ESTIMATED_PREFIX = 'cbpe-';

function quantityOf(metric: string): string {
  if (metric.startsWith(MEASURED_PREFIX)) {
    return metric.slice(MEASURED_PREFIX.length);
  }
  return metric.startsWith(ESTIMATED_PREFIX) ? metric.slice(ESTIMATED_PREFIX.length) : metric;
}

/**
 * Groups the performance metrics of one subgroup by quantity, so that `performance-sensitivity` (measured)
 * and `cbpe-sensitivity` (estimated) share a panel. Panels are sorted by quantity, measured before
 * estimated inside each.
 */
export function performancePanels(summary: MonitoringSummary, subgroup = ALL_SUBGROUP): PerformancePanel[] {
  const panels = new Map<string, PerformancePanel>();
  const windows = summary.windows
    .filter((window) => window.subgroup === subgroup)
    .sort((a, b) => a.window.localeCompare(b.window));
  for (const window of windows) {
    for (const metric of window.metrics.filter((point) => point.category === 'performance')) {
      const quantity = quantityOf(metric.name);
      const panel = panels.get(quantity) ?? { quantity, series: [], rows: [] };
      if (!panel.series.some((series) => series.metric === metric.name)) {
        panel.series.push({
          metric: metric.name,
          estimated: metric.estimated ?? metric.name.startsWith(ESTIMATED_PREFIX),
        });
      }
      let row = panel.rows.find((candidate) => candidate.window === window.window);
      if (row === undefined) {
        row = { window: window.window, values: {} };
        panel.rows.push(row);
      }
      row.values[metric.name] = { value: metric.value, lower: metric.lower, upper: metric.upper };
      panels.set(quantity, panel);
    }
  }
  for (const panel of panels.values()) {
    panel.series.sort(
      (a, b) => Number(a.estimated) - Number(b.estimated) || a.metric.localeCompare(b.metric)
    );
  }
  return [...panels.values()].sort((a, b) => a.quantity.localeCompare(b.quantity));
}

/** Written for a warning or critical value that no alert rule covers, so no response is documented. */
export const NO_RULE_RESPONSE_TEXT =
  'No alert rule covers this finding, so no response is documented; record the response taken in the compliance report.';

/** One entry of the alert timeline. */
export interface TimelineEntry {
  window: string;
  subgroup: string;
  metric: string;
  /** `opened` or `resolved` for a rule's event; `warning` or `critical` for a status finding. */
  status: string;
  value: number | undefined;
  threshold: number | undefined;
  /** Rule id of an alert rule's event; undefined for a status finding. */
  ruleId: string | undefined;
  /** The documented response; undefined when no alert rule covers the finding. */
  response: { owner: string; action: string } | undefined;
}

/**
 * Builds the alert timeline, newest window first: every event of an alert rule with the rule's documented
 * response, then every warning or critical metric value, which no rule's response covers.
 */
export function alertTimeline(summary: MonitoringSummary): TimelineEntry[] {
  const ruleEntries = summary.alerts.map((event): TimelineEntry => ({
    window: event.window,
    subgroup: event.subgroup,
    metric: event.metric,
    status: event.kind,
    value: event.value,
    threshold: event.threshold,
    ruleId: event.ruleId,
    response: { owner: event.responseOwner, action: event.responseAction },
  }));
  const findings = alertsOf(summary).map((point): TimelineEntry => ({
    window: point.window,
    subgroup: point.subgroup,
    metric: point.name,
    status: point.status,
    value: point.value,
    threshold: point.threshold,
    ruleId: undefined,
    response: undefined,
  }));
  // A stable sort keeps rule events before findings of the same window.
  return [...ruleEntries, ...findings].sort((a, b) => b.window.localeCompare(a.window));
}

/** Returns the status of one metric per window of one subgroup, such as `critical` for detected output drift. */
export function metricStatuses(
  summary: MonitoringSummary,
  metric: string,
  subgroup = ALL_SUBGROUP
): Map<string, string> {
  const statuses = new Map<string, string>();
  for (const window of summary.windows.filter((candidate) => candidate.subgroup === subgroup)) {
    const point = window.metrics.find((candidate) => candidate.name === metric);
    if (point !== undefined) {
      statuses.set(window.window, point.status);
    }
  }
  return statuses;
}
