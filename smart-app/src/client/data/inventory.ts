/**
 * Loads the model inventory: every AI model Device on the FHIR server (AI Transparency IG: Device.type
 * Artificial-Intelligence) with its status, volume and last alert from `$monitoring-summary`.
 */
import type { Bundle, Device, Parameters } from '@medplum/fhirtypes';
import { AI_DEVICE_TYPE, MODEL_ID_SYSTEM, MONITORMED_BASE } from '@monitormed/common/fhir-codes';
import type { SmartClient } from '../fhir.js';
import { bundleResources } from '../results.js';
import {
  alertsOf,
  parseMonitoringSummary,
  type MetricPoint,
  type MonitoringSummary,
} from './monitoring-summary.js';

/**
 * Identifier system of the FDA submission number on a model Device. It must equal FDA_SUBMISSION_SYSTEM of
 * @monitormed/common (devices.ts), which the package exports only from its Node entry point.
 */
export const FDA_SUBMISSION_SYSTEM = `${MONITORMED_BASE}/sid/fda-submission`;

/** Page size of the Device search; the inventory shows the first page only. */
export const DEVICE_PAGE_SIZE = 200;

/** One model of the inventory. */
export interface InventoryModel {
  deviceId: string;
  modelId: string | undefined;
  name: string;
  version: string | undefined;
  manufacturer: string | undefined;
  fdaSubmissionNumber: string | undefined;
  intendedUse: string | undefined;
  /** The summary, or why it could not be read. */
  summary:
    | { kind: 'loaded'; value: MonitoringSummary; lastAlert: MetricPoint | undefined }
    | { kind: 'failed'; message: string };
}

/** Builds the search of every AI model Device. */
export function aiDeviceSearch(): string {
  const params = new URLSearchParams({
    type: `${AI_DEVICE_TYPE.system ?? ''}|${AI_DEVICE_TYPE.code ?? ''}`,
    _count: String(DEVICE_PAGE_SIZE),
  });
  return `Device?${params.toString()}`;
}

/** Describes a model Device without its monitoring summary. */
export function describeDevice(device: Device & { id: string }): Omit<InventoryModel, 'summary'> {
  const intendedUse = device.note?.find((note) => note.text.startsWith('Intended use:'));
  return {
    deviceId: device.id,
    modelId: device.identifier?.find((identifier) => identifier.system === MODEL_ID_SYSTEM)?.value,
    name: device.deviceName?.[0]?.name ?? device.modelNumber ?? `Device ${device.id}`,
    version: device.version?.[0]?.value,
    manufacturer: device.manufacturer,
    fdaSubmissionNumber: device.identifier?.find((identifier) => identifier.system === FDA_SUBMISSION_SYSTEM)
      ?.value,
    intendedUse: intendedUse?.text.replace(/^Intended use:\s*/, ''),
  };
}

/** Returns a readable message of a failed fhirclient request, with the HTTP status when there is one. */
export function describeFailure(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'status' in error && typeof error.status === 'number') {
    return `HTTP ${String(error.status)}${error instanceof Error ? `: ${error.message}` : ''}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs `$monitoring-summary` on one model Device.
 * @throws the fhirclient error of a failed request, or an Error for a malformed result.
 */
export async function loadMonitoringSummary(
  client: SmartClient,
  deviceId: string,
  period: { from?: string; to?: string } = {}
): Promise<MonitoringSummary> {
  const params = new URLSearchParams({ granularity: 'day' });
  if (period.from !== undefined) {
    params.set('from', period.from);
  }
  if (period.to !== undefined) {
    params.set('to', period.to);
  }
  const parameters = await client.request<Parameters>(
    `Device/${encodeURIComponent(deviceId)}/$monitoring-summary?${params.toString()}`
  );
  return parseMonitoringSummary(parameters);
}

/**
 * Loads every AI model Device and its monitoring summary. A failed summary is kept per model with its
 * reason, so one broken model does not hide the others.
 * @throws the fhirclient error when the Device search itself fails.
 */
export async function loadModelInventory(client: SmartClient): Promise<InventoryModel[]> {
  // HAPI reuses the cached result of an identical search (60 s by default) unless the request carries
  // `Cache-Control: no-cache`, and a model registered within that time would be missing.
  // NOTE: fhir-server-ext 0.1.0 does not forward Cache-Control to HAPI yet, so the reuse still applies.
  const bundle = await client.request<Bundle>(
    { url: aiDeviceSearch(), headers: { 'Cache-Control': 'no-cache' } },
    { pageLimit: 1 }
  );
  const devices = bundleResources(bundle).filter(
    (resource): resource is Device & { id: string } =>
      resource.resourceType === 'Device' && resource.id !== undefined
  );

  return Promise.all(
    devices.map(async (device): Promise<InventoryModel> => {
      const described = describeDevice(device);
      try {
        const summary = await loadMonitoringSummary(client, device.id);
        return { ...described, summary: { kind: 'loaded', value: summary, lastAlert: alertsOf(summary)[0] } };
      } catch (error) {
        return { ...described, summary: { kind: 'failed', message: describeFailure(error) } };
      }
    })
  );
}
