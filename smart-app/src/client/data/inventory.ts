/**
 * Loads the model inventory: every AI model Device on the FHIR server (AI Transparency IG: Device.type
 * Artificial-Intelligence), then each one's status, volume and last alert from `$monitoring-summary`.
 */
import type { Bundle, Device, Parameters } from '@medplum/fhirtypes';
import { AI_DEVICE_TYPE, MODEL_ID_SYSTEM, MONITORMED_BASE } from '@monitormed/common/fhir-codes';
import type { SmartClient } from '../fhir.js';
import { bundleResources } from '../results.js';
import { alertTimeline, type TimelineEntry } from './dashboard-series.js';
import { parseMonitoringSummary, type MonitoringSummary } from './monitoring-summary.js';

/**
 * Identifier system of the FDA submission number on a model Device. It must equal FDA_SUBMISSION_SYSTEM of
 * @monitormed/common (devices.ts), which the package exports only from its Node entry point.
 */
export const FDA_SUBMISSION_SYSTEM = `${MONITORMED_BASE}/sid/fda-submission`;

/** Page size requested by the Device search; the server may return smaller pages. */
export const DEVICE_PAGE_SIZE = 200;

/** One model of the inventory, as its Device describes it. */
export interface InventoryModel {
  deviceId: string;
  modelId: string | undefined;
  name: string;
  version: string | undefined;
  manufacturer: string | undefined;
  fdaSubmissionNumber: string | undefined;
  intendedUse: string | undefined;
}

/** The monitoring state of one inventory model: its summary and its newest alert. */
export interface InventoryStatus {
  summary: MonitoringSummary;
  lastAlert: TimelineEntry | undefined;
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
export function describeDevice(device: Device & { id: string }): InventoryModel {
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
 * @param signal - Aborts the request, such as when the view that needs it closes.
 * @throws the fhirclient error of a failed request, or an Error for a malformed result.
 */
export async function loadMonitoringSummary(
  client: SmartClient,
  deviceId: string,
  period: { from?: string; to?: string } = {},
  signal?: AbortSignal
): Promise<MonitoringSummary> {
  const params = new URLSearchParams({ granularity: 'day' });
  if (period.from !== undefined) {
    params.set('from', period.from);
  }
  if (period.to !== undefined) {
    params.set('to', period.to);
  }
  const parameters = await client.request<Parameters>({
    url: `Device/${encodeURIComponent(deviceId)}/$monitoring-summary?${params.toString()}`,
    ...(signal === undefined ? {} : { signal }),
  });
  return parseMonitoringSummary(parameters);
}

/**
 * Loads every AI model Device, following the search's `next` links, without their summaries, so the
 * inventory shows its rows before the slower per-model summaries arrive.
 * @throws the fhirclient error when the Device search fails.
 */
export async function loadModelDevices(client: SmartClient, signal?: AbortSignal): Promise<InventoryModel[]> {
  // HAPI reuses the cached result of an identical search (60 s by default) unless the request carries
  // `Cache-Control: no-cache`, and a model registered within that time would be missing. fhir-server-ext
  // passes the header on to HAPI. HAPI caps a page below the requested `_count` (at 50 on the test
  // peers), so every page is read: pageLimit 0 makes fhirclient follow `next` to the end.
  const bundles = await client.request<Bundle[]>(
    {
      url: aiDeviceSearch(),
      headers: { 'Cache-Control': 'no-cache' },
      ...(signal === undefined ? {} : { signal }),
    },
    { pageLimit: 0 }
  );
  return bundles
    .flatMap(bundleResources)
    .filter(
      (resource): resource is Device & { id: string } =>
        resource.resourceType === 'Device' && resource.id !== undefined
    )
    .map(describeDevice);
}

/** Loads one model's summary and picks its newest alert for the inventory. */
export async function loadInventoryStatus(
  client: SmartClient,
  deviceId: string,
  signal?: AbortSignal
): Promise<InventoryStatus> {
  const summary = await loadMonitoringSummary(client, deviceId, {}, signal);
  return { summary, lastAlert: alertTimeline(summary)[0] };
}

/**
 * Creates a limiter that runs at most `maxRunning` tasks at once and queues the rest in call order.
 * The inventory runs one summary per model through it, so a long inventory leaves browser connections
 * free for the other requests of the page.
 */
export function createLimiter(maxRunning: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= maxRunning) {
      // A finishing task hands its slot to the first waiting one, so `running` stays at the maximum.
      await new Promise<void>((resolve) => {
        waiting.push(resolve);
      });
    } else {
      running += 1;
    }
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next === undefined) {
        running -= 1;
      } else {
        next();
      }
    }
  };
}
