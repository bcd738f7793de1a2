/**
 * `Device/{id}/$monitoring-summary`: the model's status with the rule that set it and its volume. Per
 * window and subgroup it lists every stored metric with value, n, threshold and status, and the output
 * score quantiles. Then come the period's alert events with their documented responses and the
 * clinicians' accepted and overridden counts per day.
 */
import type { Parameters } from '@medplum/fhirtypes';
import type { Db } from 'mongodb';
import type { FhirTarget } from './fhir-reads.js';
import { readModelIdentity } from './fhir-reads.js';
import { readMetricValues } from './metric-reads.js';
import {
  alertPart,
  dayRangeOf,
  feedbackPart,
  readAlertEvents,
  readClinicianFeedback,
} from './monitoring-events.js';
import { quantileKey, readOutputQuantiles, type OutputQuantiles } from './output-quantiles.js';
import {
  categoryOf,
  isEstimated,
  modelStatusOf,
  statusOf,
  thresholdOf,
  type MetricValue,
  type StatusThresholds,
} from './metric-status.js';
import {
  booleanPart,
  codeInput,
  codePart,
  dateInput,
  decimalParts,
  groupPart,
  integerPart,
  stringPart,
  toParameters,
  type OperationInputs,
  type Part,
} from './parameters.js';
import { OperationInputError } from './operation-input-error.js';

/** Input parameter names of $monitoring-summary. */
export const MONITORING_SUMMARY_INPUTS = ['granularity', 'from', 'to', 'subgroup', 'metric'] as const;

/** Window granularities the evaluation store keeps. */
export const GRANULARITIES = ['hour', 'day', 'week', 'month'] as const;

/** Validated inputs of $monitoring-summary and $compliance-report. */
export interface WindowSelection {
  granularity: (typeof GRANULARITIES)[number];
  from: Date | undefined;
  to: Date | undefined;
  subgroups: string[] | undefined;
  metrics: string[] | undefined;
}

/**
 * Reads and checks the window selection.
 * @throws OperationInputError naming the invalid parameter.
 */
export function readWindowSelection(
  inputs: OperationInputs,
  names = { from: 'from', to: 'to' }
): WindowSelection {
  const from = dateInput(inputs, names.from);
  const to = dateInput(inputs, names.to);
  if (from !== undefined && to !== undefined && from.getTime() >= to.getTime()) {
    throw new OperationInputError(
      names.to,
      `Parameter '${names.to}' must be after '${names.from}'; the period ${from.toISOString()} to ${to.toISOString()} is empty.`
    );
  }
  return {
    granularity: codeInput(inputs, 'granularity', GRANULARITIES, 'day'),
    from,
    to,
    subgroups: inputs.get('subgroup'),
    metrics: inputs.get('metric'),
  };
}

/** Reads the metric values of the Device's model version in the selection. */
export async function selectMetricValues(
  db: Db,
  modelId: string,
  modelVersion: string,
  selection: WindowSelection
): Promise<MetricValue[]> {
  return readMetricValues(db, {
    modelIds: [modelId],
    modelVersions: [modelVersion],
    granularity: selection.granularity,
    ...(selection.from === undefined ? {} : { from: selection.from }),
    ...(selection.to === undefined ? {} : { to: selection.to }),
    ...(selection.subgroups === undefined ? {} : { subgroups: selection.subgroups }),
    ...(selection.metrics === undefined ? {} : { metrics: selection.metrics }),
  });
}

/** Values of one window and subgroup. */
export interface WindowGroup {
  window: string;
  windowStart: Date | null;
  subgroup: string;
  /** Results in the window: the `result-count` value, else the largest n of its metrics. */
  volume: number;
  values: MetricValue[];
}

/** Groups metric values by window and subgroup, in window order. */
export function groupByWindow(values: readonly MetricValue[]): WindowGroup[] {
  const groups = new Map<string, WindowGroup>();
  for (const value of values) {
    const key = `${value.window}\u0000${value.subgroup}`;
    let group = groups.get(key);
    if (group === undefined) {
      group = {
        window: value.window,
        windowStart: value.windowStart,
        subgroup: value.subgroup,
        volume: 0,
        values: [],
      };
      groups.set(key, group);
    }
    group.values.push(value);
  }
  for (const group of groups.values()) {
    const count = group.values.find((value) => value.metric === 'result-count');
    group.volume = count?.value ?? Math.max(0, ...group.values.map((value) => value.n));
  }
  return [...groups.values()].sort(
    (a, b) =>
      (a.windowStart?.getTime() ?? 0) - (b.windowStart?.getTime() ?? 0) ||
      a.window.localeCompare(b.window) ||
      a.subgroup.localeCompare(b.subgroup)
  );
}

/** Builds the `metric` part of one value. */
export function metricPart(value: MetricValue, thresholds: StatusThresholds): Part {
  const category = categoryOf(value.metric);
  return groupPart('metric', [
    stringPart('name', value.metric),
    codePart('category', category),
    ...decimalParts('value', value.value),
    integerPart('n', value.n),
    ...decimalParts('lower', value.lower),
    ...decimalParts('upper', value.upper),
    ...(category === 'performance' ? [booleanPart('estimated', isEstimated(value.metric))] : []),
    ...decimalParts('threshold', thresholdOf(value, thresholds)),
    ...(value.test === null ? [] : [stringPart('test', value.test)]),
    ...(value.detected === null ? [] : [booleanPart('detected', value.detected)]),
    codePart('status', statusOf(value, thresholds)),
  ]);
}

/** Builds the `outputQuantile` parts of one window and subgroup. */
function quantileParts(quantiles: OutputQuantiles | undefined): Part[] {
  return (quantiles?.quantiles ?? []).map((quantile) =>
    groupPart('outputQuantile', [
      ...decimalParts('probability', quantile.probability),
      ...decimalParts('value', quantile.value),
    ])
  );
}

/**
 * Runs $monitoring-summary.
 * @throws OperationNotFoundError for an unknown Device; OperationInputError for invalid input.
 */
export async function monitoringSummary(
  target: FhirTarget,
  db: Db,
  deviceId: string,
  inputs: OperationInputs,
  thresholds: StatusThresholds
): Promise<Parameters> {
  const selection = readWindowSelection(inputs);
  const model = await readModelIdentity(target, deviceId);
  const values = await selectMetricValues(db, model.modelId, model.modelVersion, selection);
  const groups = groupByWindow(values);
  const status = modelStatusOf(values, thresholds);
  const quantiles = await readOutputQuantiles(db, model.modelId, model.modelVersion, selection);
  const days = dayRangeOf(selection.from, selection.to);
  const alerts = await readAlertEvents(db, model.modelId, days);
  const feedback = await readClinicianFeedback(db, model.modelId, days);

  return toParameters([
    codePart('status', status.status),
    stringPart('rule', status.rule),
    stringPart('modelId', model.modelId),
    stringPart('modelVersion', model.modelVersion),
    codePart('granularity', selection.granularity),
    integerPart(
      'volume',
      groups.filter((group) => group.subgroup === 'all').reduce((sum, group) => sum + group.volume, 0)
    ),
    ...groups.map((group) =>
      groupPart('window', [
        stringPart('window', group.window),
        ...(group.windowStart === null
          ? []
          : [{ name: 'start', valueDateTime: group.windowStart.toISOString() }]),
        stringPart('subgroup', group.subgroup),
        integerPart('volume', group.volume),
        ...group.values.map((value) => metricPart(value, thresholds)),
        ...quantileParts(quantiles.get(quantileKey(group.window, group.subgroup))),
      ])
    ),
    ...alerts.map(alertPart),
    ...feedback.map(feedbackPart),
  ]);
}
