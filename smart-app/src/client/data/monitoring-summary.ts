/**
 * Parses the Parameters of `Device/{id}/$monitoring-summary` (served by fhir-server-ext) into the status,
 * windows, alert events and clinician feedback that the inventory, the dashboard and the compliance view
 * show, and builds the simple per-window series. The performance, output distribution and alert timeline
 * series are in dashboard-series.ts.
 */
import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { booleanOf, numberOf, partsNamed, textOf } from './parameters.js';

/** Model status levels of $monitoring-summary. */
export type ModelStatus = 'ok' | 'warning' | 'critical';

/** One stored metric value of one window and subgroup. */
export interface MetricPoint {
  window: string;
  subgroup: string;
  name: string;
  /** `uncertainty`, `drift`, `performance`, `volume` or `other`, as fhir-server-ext classifies it. */
  category: string;
  value: number | undefined;
  n: number | undefined;
  threshold: number | undefined;
  test: string | undefined;
  detected: boolean | undefined;
  /** 95% interval of a performance metric, when the analyzers stored one. */
  lower: number | undefined;
  upper: number | undefined;
  /** Performance metrics: true when estimated without labels (CBPE), false when measured. */
  estimated: boolean | undefined;
  /** `ok`, `warning`, `critical`, `insufficient-data` or `info`. */
  status: string;
}

/** One quantile of the output score in a window. */
export interface OutputQuantile {
  /** Probability of the quantile, such as 0.5 for the median. */
  probability: number;
  value: number;
}

/** An alert event that one of the analyzers' alert rules recorded, with the rule's documented response. */
export interface AlertEvent {
  window: string;
  /** `opened` or `resolved`. */
  kind: string;
  ruleId: string;
  metric: string;
  subgroup: string;
  /** `below` or `above`: the side of the threshold that breaches the rule. */
  direction: string | undefined;
  threshold: number | undefined;
  value: number | undefined;
  n: number | undefined;
  /** Role or body responsible for the response. */
  responseOwner: string;
  /** The documented response, in the words of the organisation's procedure. */
  responseAction: string;
  /** When the event was recorded, a FHIR dateTime. */
  recorded: string | undefined;
}

/** Clinicians' responses to the model's AI results and Flags on one UTC day. */
export interface ClinicianFeedback {
  day: string;
  accepted: number;
  overridden: number;
  /** overridden / (accepted + overridden), undefined when neither was recorded. */
  overrideRate: number | undefined;
}

/** The metrics of one window and subgroup. */
export interface WindowSummary {
  window: string;
  /** ISO start of the window, when the evaluation store has it. */
  start: string | undefined;
  subgroup: string;
  volume: number;
  metrics: MetricPoint[];
  /** Quantiles of the output score, empty when the evaluation store has no score sketch of the window. */
  outputQuantiles: OutputQuantile[];
}

/** A parsed $monitoring-summary result. */
export interface MonitoringSummary {
  status: ModelStatus;
  /** The rule that set the status, in words. */
  rule: string;
  modelId: string | undefined;
  modelVersion: string | undefined;
  granularity: string | undefined;
  /** Results counted in all windows, subgroup `all`. */
  volume: number;
  windows: WindowSummary[];
  /** Alert events of the period, oldest first. */
  alerts: AlertEvent[];
  /** Clinician responses per day of the period, oldest first. */
  feedback: ClinicianFeedback[];
}

/** The subgroup that covers every result of a window. */
export const ALL_SUBGROUP = 'all';

const MODEL_STATUSES = new Set<string>(['ok', 'warning', 'critical']);

/**
 * Parses a $monitoring-summary result.
 * @throws Error when the Parameters have no valid `status` part, so a malformed result never shows as ok.
 */
export function parseMonitoringSummary(parameters: Parameters): MonitoringSummary {
  const top = parameters.parameter;
  const status = textOf(top, 'status');
  if (status === undefined || !MODEL_STATUSES.has(status)) {
    throw new Error(
      `The $monitoring-summary result has an invalid status "${String(status)}"; expected ok, warning or critical.`
    );
  }

  const windows = partsNamed(top, 'window').map((windowPart): WindowSummary => {
    const parts = windowPart.part;
    const window = textOf(parts, 'window') ?? '';
    const subgroup = textOf(parts, 'subgroup') ?? ALL_SUBGROUP;
    return {
      window,
      start: textOf(parts, 'start'),
      subgroup,
      volume: numberOf(parts, 'volume') ?? 0,
      metrics: partsNamed(parts, 'metric').map((metricPart) => ({
        window,
        subgroup,
        name: textOf(metricPart.part, 'name') ?? 'unnamed metric',
        category: textOf(metricPart.part, 'category') ?? 'other',
        value: numberOf(metricPart.part, 'value'),
        n: numberOf(metricPart.part, 'n'),
        threshold: numberOf(metricPart.part, 'threshold'),
        test: textOf(metricPart.part, 'test'),
        detected: booleanOf(metricPart.part, 'detected'),
        lower: numberOf(metricPart.part, 'lower'),
        upper: numberOf(metricPart.part, 'upper'),
        estimated: booleanOf(metricPart.part, 'estimated'),
        status: textOf(metricPart.part, 'status') ?? 'info',
      })),
      outputQuantiles: partsNamed(parts, 'outputQuantile').flatMap((quantilePart) => {
        const probability = numberOf(quantilePart.part, 'probability');
        const value = numberOf(quantilePart.part, 'value');
        return probability === undefined || value === undefined ? [] : [{ probability, value }];
      }),
    };
  });

  return {
    status: status as ModelStatus,
    rule: textOf(top, 'rule') ?? '',
    modelId: textOf(top, 'modelId'),
    modelVersion: textOf(top, 'modelVersion'),
    granularity: textOf(top, 'granularity'),
    volume: numberOf(top, 'volume') ?? 0,
    windows,
    alerts: partsNamed(top, 'alert').map((alertPart) => parseAlertEvent(alertPart.part)),
    feedback: partsNamed(top, 'feedback').map((feedbackPart): ClinicianFeedback => ({
      day: textOf(feedbackPart.part, 'day') ?? '',
      accepted: numberOf(feedbackPart.part, 'accepted') ?? 0,
      overridden: numberOf(feedbackPart.part, 'overridden') ?? 0,
      overrideRate: numberOf(feedbackPart.part, 'overrideRate'),
    })),
  };
}

function parseAlertEvent(parts: ParametersParameter[] | undefined): AlertEvent {
  return {
    window: textOf(parts, 'window') ?? '',
    kind: textOf(parts, 'kind') ?? 'opened',
    ruleId: textOf(parts, 'ruleId') ?? 'unnamed rule',
    metric: textOf(parts, 'metric') ?? 'unnamed metric',
    subgroup: textOf(parts, 'subgroup') ?? ALL_SUBGROUP,
    direction: textOf(parts, 'direction'),
    threshold: numberOf(parts, 'threshold'),
    value: numberOf(parts, 'value'),
    n: numberOf(parts, 'n'),
    responseOwner: textOf(parts, 'responseOwner') ?? 'not recorded',
    responseAction: textOf(parts, 'responseAction') ?? 'not recorded',
    recorded: textOf(parts, 'recorded'),
  };
}

/** Returns the metric values whose status is warning or critical, newest window first. */
export function alertsOf(summary: MonitoringSummary): MetricPoint[] {
  return summary.windows
    .flatMap((window) => window.metrics)
    .filter((metric) => metric.status === 'warning' || metric.status === 'critical')
    .sort((a, b) => b.window.localeCompare(a.window) || a.name.localeCompare(b.name));
}

/** One row of a chart: the window and one value per metric name. */
export type ChartRow = { window: string } & Record<string, number | string | undefined>;

/** The rows and metric names of one chart, plus each metric's threshold when it has one. */
export interface ChartSeries {
  rows: ChartRow[];
  metrics: string[];
  thresholds: Map<string, number>;
}

/**
 * Builds the per-window series of every metric in `category` for one subgroup, oldest window first.
 * A metric whose threshold differs between windows keeps the newest threshold.
 */
export function seriesOf(summary: MonitoringSummary, category: string, subgroup = ALL_SUBGROUP): ChartSeries {
  const rows = new Map<string, ChartRow>();
  const metrics = new Set<string>();
  const thresholds = new Map<string, number>();
  const windows = summary.windows
    .filter((window) => window.subgroup === subgroup)
    .sort((a, b) => a.window.localeCompare(b.window));
  for (const window of windows) {
    const row = rows.get(window.window) ?? { window: window.window };
    for (const metric of window.metrics.filter((m) => m.category === category)) {
      row[metric.name] = metric.value;
      metrics.add(metric.name);
      if (metric.threshold !== undefined) {
        thresholds.set(metric.name, metric.threshold);
      }
    }
    rows.set(window.window, row);
  }
  return { rows: [...rows.values()], metrics: [...metrics].sort(), thresholds };
}

/** Builds the result count per window for subgroup `all`, oldest first. */
export function volumeSeries(summary: MonitoringSummary): ChartRow[] {
  return summary.windows
    .filter((window) => window.subgroup === ALL_SUBGROUP)
    .sort((a, b) => a.window.localeCompare(b.window))
    .map((window) => ({ window: window.window, volume: window.volume }));
}

/**
 * Builds the subgroup comparison: for each subgroup other than `all`, its value of `metric` in the
 * newest window where it has one.
 */
export function subgroupComparison(
  summary: MonitoringSummary,
  metric: string
): { subgroup: string; window: string; value: number; n: number | undefined }[] {
  const newest = new Map<
    string,
    { subgroup: string; window: string; value: number; n: number | undefined }
  >();
  for (const point of summary.windows.flatMap((window) => window.metrics)) {
    if (point.subgroup === ALL_SUBGROUP || point.name !== metric || point.value === undefined) {
      continue;
    }
    const seen = newest.get(point.subgroup);
    if (seen === undefined || point.window > seen.window) {
      newest.set(point.subgroup, {
        subgroup: point.subgroup,
        window: point.window,
        value: point.value,
        n: point.n,
      });
    }
  }
  return [...newest.values()].sort((a, b) => a.subgroup.localeCompare(b.subgroup));
}
