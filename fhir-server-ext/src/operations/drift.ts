/**
 * `Device/{id}/$drift`: per window, the drift tests the analyzers stored for the model version's output,
 * uncertainty and input features, each with its test, statistic, p-value or distance, threshold and
 * verdict, and the dataset's share of drifted features. Nothing is recomputed: every number is read from
 * the metric documents, so it equals what the analyzers flagged on.
 */
import type { Parameters } from '@medplum/fhirtypes';
import { queryEvaluation, type MetricDocument } from '@monitormed/analyzers';
import { COLLECTIONS } from '@monitormed/common';
import type { Db, Filter } from 'mongodb';
import { readModelIdentity, type FhirTarget } from './fhir-reads.js';
import { GRANULARITIES } from './monitoring-summary.js';
import {
  booleanPart,
  codeInput,
  codePart,
  decimalParts,
  groupPart,
  integerPart,
  stringPart,
  toParameters,
  type OperationInputs,
  type Part,
} from './parameters.js';

/** Input parameter names of $drift. */
export const DRIFT_INPUTS = ['window', 'granularity', 'reference', 'feature'] as const;

/** Drift tests whose `value` is a p-value; the others store a distance (Evidently's test names). */
const P_VALUE_TESTS = new Set(['ks', 'z', 'chisquare']);

/** Metric of the dataset's share of drifted features. */
const DRIFT_SHARE_METRIC = 'feature-drift-share';

/** Per-result metrics tested against the reference, reported as features named after what they test. */
const OUTPUT_TESTS: Record<string, { feature: string; test: string }> = {
  'output-drift-ks': { feature: 'output:score', test: 'ks' },
  'output-psi': { feature: 'output:score', test: 'psi' },
  'uncertainty-drift-ks': { feature: 'output:entropy', test: 'ks' },
  'mc-uncertainty-drift-ks': { feature: 'output:mc-mutual-information', test: 'ks' },
};

const FEATURE_PREFIX = 'feature-drift:';

/** Reference kinds: the pooled reference windows of production data, or an uploaded reference profile. */
type ReferenceKind = 'period' | 'profile';

function featureOf(metric: string): string | undefined {
  return metric.startsWith(FEATURE_PREFIX)
    ? metric.slice(FEATURE_PREFIX.length)
    : OUTPUT_TESTS[metric]?.feature;
}

function referenceOf(document: MetricDocument): { kind: ReferenceKind; text: string } {
  const windows = document.referenceWindows ?? [];
  if (windows.length === 0) {
    return { kind: 'profile', text: 'reference profile' };
  }
  return {
    kind: 'period',
    text: `windows ${windows[0] ?? ''} to ${windows[windows.length - 1] ?? ''} (${windows.length})`,
  };
}

function verdictOf(document: MetricDocument): string {
  if (document.status === 'insufficient-data') {
    return 'insufficient-data';
  }
  if (document.detected === undefined) {
    return 'not-evaluated';
  }
  return document.detected ? 'drift' : 'no-drift';
}

function featurePart(document: MetricDocument, feature: string): Part {
  const test = document.test ?? OUTPUT_TESTS[document.metric]?.test ?? 'unknown';
  const isPValue = P_VALUE_TESTS.has(test);
  return groupPart('feature', [
    stringPart('name', feature),
    stringPart('metric', document.metric),
    codePart('test', test),
    ...decimalParts('statistic', document.statistic),
    ...decimalParts(isPValue ? 'pValue' : 'distance', document.value),
    ...decimalParts('threshold', document.threshold),
    ...(document.thresholdMode === undefined ? [] : [codePart('thresholdMode', document.thresholdMode)]),
    ...decimalParts('lowerThreshold', document.lowerThreshold),
    ...decimalParts('upperThreshold', document.upperThreshold),
    ...decimalParts('missingRateReference', document.missingRateReference),
    ...decimalParts('missingRateCurrent', document.missingRateCurrent),
    ...(document.unseenCategories ?? []).map((category) => stringPart('unseenCategory', category)),
    integerPart('n', document.n),
    ...(document.referenceN === undefined ? [] : [integerPart('referenceN', document.referenceN)]),
    stringPart('reference', referenceOf(document).text),
    codePart('verdict', verdictOf(document)),
  ]);
}

/**
 * Runs $drift.
 * @throws OperationNotFoundError for an unknown Device; OperationInputError for invalid input.
 */
export async function driftReport(
  target: FhirTarget,
  db: Db,
  deviceId: string,
  inputs: OperationInputs
): Promise<Parameters> {
  const granularity = codeInput(inputs, 'granularity', GRANULARITIES, 'day');
  const reference = inputs.has('reference')
    ? codeInput<ReferenceKind>(inputs, 'reference', ['period', 'profile'], 'period')
    : undefined;
  const windows = inputs.get('window');
  const features = inputs.get('feature');
  const model = await readModelIdentity(target, deviceId);

  // queryEvaluation finds which drift metrics exist; their test details are read from the same documents.
  const rows = await queryEvaluation(db, {
    modelIds: [model.modelId],
    modelVersions: [model.modelVersion],
    granularity,
    ...(windows === undefined ? {} : { windows }),
  });
  const metricNames = [
    ...new Set(
      rows
        .map((row) => row.metric)
        .filter((metric) => metric === DRIFT_SHARE_METRIC || featureOf(metric) !== undefined)
    ),
  ];
  const documents =
    metricNames.length === 0
      ? []
      : await db
          .collection<MetricDocument>(COLLECTIONS.metrics)
          .find(
            {
              modelId: model.modelId,
              modelVersion: model.modelVersion,
              granularity,
              metric: { $in: metricNames },
              window: { $in: [...new Set(rows.map((row) => row.window))] },
            } as Filter<MetricDocument>,
            { projection: { _id: 0 } }
          )
          .toArray();

  const byWindow = new Map<string, MetricDocument[]>();
  for (const document of documents) {
    // Reference windows carry no test; they are the baseline, not a result.
    if (document.status === 'reference') {
      continue;
    }
    byWindow.set(document.window, [...(byWindow.get(document.window) ?? []), document]);
  }

  const windowParts: Part[] = [];
  for (const window of [...byWindow.keys()].sort()) {
    const inWindow = byWindow.get(window) ?? [];
    const tested = inWindow.filter((document) => {
      const feature = featureOf(document.metric);
      return (
        feature !== undefined &&
        (features === undefined || features.includes(feature)) &&
        (reference === undefined || referenceOf(document).kind === reference)
      );
    });
    const share = inWindow.find((document) => document.metric === DRIFT_SHARE_METRIC);
    if (tested.length === 0 && share === undefined) {
      continue;
    }
    windowParts.push(
      groupPart('window', [
        stringPart('window', window),
        ...(share === undefined
          ? []
          : [
              groupPart('dataset', [
                ...decimalParts('driftShare', share.value),
                ...decimalParts('threshold', share.threshold),
                booleanPart('detected', share.detected ?? false),
                integerPart('n', share.n),
              ]),
            ]),
        ...tested.map((document) => featurePart(document, featureOf(document.metric) ?? document.metric)),
      ])
    );
  }

  return toParameters([
    stringPart('modelId', model.modelId),
    stringPart('modelVersion', model.modelVersion),
    codePart('granularity', granularity),
    integerPart('windowCount', windowParts.length),
    ...windowParts,
  ]);
}
