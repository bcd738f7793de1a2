/**
 * Writes the metric documents of a window to FHIR as metric time series. Each model and metric gets a
 * DeviceMetric (profile monitoring-device-metric), and each metric, window and subgroup an Observation
 * (profile monitoring-metric-observation). Both are written with a conditional PUT on their identifier
 * (https://hl7.org/fhir/R4/http.html#cond-update), so a rerun updates them and never adds a second one.
 * All entries of a window go in one transaction to keep the FHIR server's load low.
 *
 * They carry no AIAST label, because MonitorMed computes them from the AI results and the AI model does not
 * assert them.
 */
import type {
  Bundle,
  BundleEntry,
  DeviceMetric,
  Observation,
  ObservationComponent,
} from '@medplum/fhirtypes';
import { MODEL_ID_SYSTEM, MONITORMED_BASE, type FhirClient } from '@monitormed/common';
import type { MetricDocument } from '../store/documents.js';
import { httpStatusOf } from './gateway.js';
import { periodWindowOf, type WindowPeriod } from '../workers/windows.js';

/** Identifier system of a metric Observation, with the value `{model}|{version}|{metric}|{subgroup}|{window}`. */
export const METRIC_OBSERVATION_ID_SYSTEM = `${MONITORMED_BASE}/sid/monitoring-metric`;

/** Identifier system of a model's DeviceMetric, with the value `{model}|{metric}`. */
export const DEVICE_METRIC_ID_SYSTEM = `${MONITORMED_BASE}/sid/device-metric`;

/** Code system of the metric names (the family, such as `feature-mean`, for per-feature metrics). */
export const MONITORING_METRIC_SYSTEM = `${MONITORMED_BASE}/CodeSystem/monitoring-metric`;

/** Code system of the metric Observation's component codes and of the basis codes. */
export const METRIC_COMPONENT_SYSTEM = `${MONITORMED_BASE}/CodeSystem/metric-component`;

const UCUM = 'http://unitsofmeasure.org';
const DATA_ABSENT_REASON = 'http://terminology.hl7.org/CodeSystem/data-absent-reason';

/**
 * A metric document as stored, with the 95% interval that performance documents add. Only the fields the
 * Observation needs are required.
 */
export type MetricRecord = Pick<
  MetricDocument,
  'modelId' | 'modelVersion' | 'subgroup' | 'window' | 'value' | 'n'
> &
  Partial<Pick<MetricDocument, 'granularity' | 'windowStart'>> & {
    /** Metric name; performance metrics such as `cbpe-auroc` are stored as plain strings. */
    metric: string;
    lower?: number | null;
    upper?: number | null;
  };

/** Splits a metric name such as `feature-mean:age` into its code and feature. */
function splitMetric(metric: string): { code: string; feature: string | undefined } {
  const colon = metric.indexOf(':');
  return colon < 0
    ? { code: metric, feature: undefined }
    : { code: metric.slice(0, colon), feature: metric.slice(colon + 1) };
}

/** Escapes `|` as `\|` (FHIR search escaping), so the server splits system and value at the first bar only. */
function identifierSearch(system: string, value: string): string {
  return `identifier=${encodeURIComponent(`${system}|${value.replaceAll('|', '\\|')}`)}`;
}

/** Returns the UCUM unit of a metric: hours for latencies, else the dimensionless `1`. */
function unitOf(code: string): { unit: string; code: string } {
  return code.endsWith('-hours-median') ? { unit: 'h', code: 'h' } : { unit: '1', code: '1' };
}

/** Returns the window's period with an inclusive end (FHIR Period.end includes its value), or undefined. */
function periodOf(record: MetricRecord): { start: string; end: string } | undefined {
  const granularity = record.granularity ?? 'day';
  if (granularity === 'reference' || granularity === 'reference-chunk') {
    return undefined;
  }
  const start = record.windowStart ?? new Date(`${record.window.slice(0, 10)}T00:00:00Z`);
  const window = periodWindowOf(start, granularity satisfies WindowPeriod);
  return { start: window.start.toISOString(), end: new Date(window.end.getTime() - 1).toISOString() };
}

/**
 * Returns a conditional reference to a model's Device by model id. A transaction fails when no Device or
 * more than one Device has the id, so pass the Device's id where it is known.
 */
function modelDeviceSearch(modelId: string): string {
  return `Device?identifier=${encodeURIComponent(`${MODEL_ID_SYSTEM}|${modelId}`)}`;
}

/** Returns the metric Observation identifier value of a record. */
export function metricObservationKey(record: MetricRecord): string {
  return [record.modelId, record.modelVersion, record.metric, record.subgroup, record.window].join('|');
}

function componentCode(code: string): ObservationComponent['code'] {
  return { coding: [{ system: METRIC_COMPONENT_SYSTEM, code }] };
}

/**
 * Builds the metric Observation of one record.
 * @param record - The metric document.
 * @param deviceMetricReference - Reference to the model's DeviceMetric for this metric.
 * @param period - The window's period.
 * @param deviceReference - Reference to the model Device, by default a conditional reference by model id.
 * @returns The Observation without id.
 */
export function buildMetricObservation(
  record: MetricRecord,
  deviceMetricReference: string,
  period: { start: string; end: string },
  deviceReference: string = modelDeviceSearch(record.modelId)
): Observation {
  const { code, feature } = splitMetric(record.metric);
  const unit = unitOf(code);
  const components: ObservationComponent[] = [
    { code: componentCode('sample-size'), valueInteger: record.n },
    { code: componentCode('subgroup'), valueString: record.subgroup },
    {
      code: componentCode('basis'),
      valueCodeableConcept: {
        coding: [
          { system: METRIC_COMPONENT_SYSTEM, code: code.startsWith('cbpe-') ? 'estimated' : 'measured' },
        ],
      },
    },
  ];
  if (feature !== undefined) {
    components.push({ code: componentCode('feature'), valueString: feature });
  }
  for (const [bound, value] of [
    ['interval-low', record.lower],
    ['interval-high', record.upper],
  ] as const) {
    if (typeof value === 'number' && Number.isFinite(value)) {
      components.push({ code: componentCode(bound), valueQuantity: { value, system: UCUM, ...unit } });
    }
  }

  const observation: Observation = {
    resourceType: 'Observation',
    identifier: [{ system: METRIC_OBSERVATION_ID_SYSTEM, value: metricObservationKey(record) }],
    status: 'final',
    code: { coding: [{ system: MONITORING_METRIC_SYSTEM, code }] },
    focus: [{ reference: deviceReference }],
    device: { reference: deviceMetricReference },
    effectivePeriod: period,
    component: components,
  };
  if (typeof record.value === 'number' && Number.isFinite(record.value)) {
    observation.valueQuantity = { value: record.value, system: UCUM, ...unit };
  } else {
    // Reference windows and windows with too few results have no value.
    observation.dataAbsentReason = { coding: [{ system: DATA_ABSENT_REASON, code: 'not-performed' }] };
  }
  return observation;
}

/**
 * Builds one transaction that writes the DeviceMetrics and metric Observations of `records`. Records of
 * the reference profile (no period) are left out. Focus and source are conditional references to the model
 * Device, which the server resolves, so the Device must exist.
 * @param records - Metric documents, typically one window's.
 * @param fullUrl - Returns a fresh `urn:uuid:` placeholder.
 * @param deviceReference - Reference to the model Device, such as `Device/12`; by default a conditional
 *   reference by model id.
 * @returns The transaction, or undefined when no record has a period.
 */
export function buildMetricTransaction(
  records: readonly MetricRecord[],
  fullUrl: () => string,
  deviceReference?: string
): Bundle | undefined {
  const deviceMetrics = new Map<string, BundleEntry<DeviceMetric>>();
  const observations: BundleEntry<Observation>[] = [];

  for (const record of records) {
    const period = periodOf(record);
    if (period === undefined) {
      continue;
    }

    const metricKey = `${record.modelId}|${record.metric}`;
    let deviceMetric = deviceMetrics.get(metricKey);
    if (deviceMetric === undefined) {
      const query = identifierSearch(DEVICE_METRIC_ID_SYSTEM, metricKey);
      deviceMetric = {
        fullUrl: fullUrl(),
        resource: {
          resourceType: 'DeviceMetric',
          identifier: [{ system: DEVICE_METRIC_ID_SYSTEM, value: metricKey }],
          type: { coding: [{ system: MONITORING_METRIC_SYSTEM, code: splitMetric(record.metric).code }] },
          source: { reference: deviceReference ?? modelDeviceSearch(record.modelId) },
          category: 'measurement',
        },
        request: { method: 'PUT', url: `DeviceMetric?${query}` },
      };
      deviceMetrics.set(metricKey, deviceMetric);
    }

    const query = identifierSearch(METRIC_OBSERVATION_ID_SYSTEM, metricObservationKey(record));
    observations.push({
      fullUrl: fullUrl(),
      resource: buildMetricObservation(
        record,
        deviceMetric.fullUrl ?? '',
        period,
        deviceReference ?? modelDeviceSearch(record.modelId)
      ),
      request: { method: 'PUT', url: `Observation?${query}` },
    });
  }

  if (observations.length === 0) {
    return undefined;
  }
  return { resourceType: 'Bundle', type: 'transaction', entry: [...deviceMetrics.values(), ...observations] };
}

/**
 * Writes the metric time series of `records` in one transaction.
 * @param client - FHIR client.
 * @param records - Metric documents, typically one window's.
 * @param deviceReference - Reference to the model Device; by default a conditional reference by model id.
 * @returns The number of Observations written.
 */
export async function writeMetricObservations(
  client: FhirClient,
  records: readonly MetricRecord[],
  deviceReference?: string
): Promise<number> {
  const bundle = buildMetricTransaction(records, () => `urn:uuid:${crypto.randomUUID()}`, deviceReference);
  if (bundle === undefined) {
    return 0;
  }

  // Two windows of one model written at once both create the model's DeviceMetric by a conditional
  // update, and HAPI fails the later transaction with 409 (HAPI-2745). Sent again, it finds the
  // DeviceMetric and updates it.
  for (let attempt = 1; ; attempt += 1) {
    try {
      await client.transaction({ body: { ...bundle } });
      break;
    } catch (err) {
      if (httpStatusOf(err) !== 409 || attempt >= CONFLICT_ATTEMPTS) {
        throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt + Math.random() * 100));
    }
  }
  return bundle.entry?.filter((entry) => entry.resource?.resourceType === 'Observation').length ?? 0;
}

/** Transactions tried when HAPI reports a conflicting conditional create. */
const CONFLICT_ATTEMPTS = 4;
