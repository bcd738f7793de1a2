/** Helpers shared by the smart-app tests. */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { Bundle, Device, Observation, Resource } from '@medplum/fhirtypes';
import { AI_CONFIDENCE_EXTENSION, AIAST, loadConfig, loadModelCatalog } from '@monitormed/common';

/** HAPI FHIR base URL of the test peers. */
export const fhirBaseUrl = loadConfig().fhirBaseUrl;

/** Suffix unique to this test process, for ids and names. */
export const runId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

const REQUEST_TIMEOUT_MS = 15_000;

/** References of the FHIR resources this run created, in creation order. */
const created: string[] = [];

/**
 * Returns a loopback port that nothing listens on, by binding port 0 and closing it again. Another
 * process could take the port in between, which is unlikely within one test run.
 */
export async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => {
    probe.listen(0, '127.0.0.1', resolve);
  });
  const address = probe.address();
  await new Promise<void>((resolve) => {
    probe.close(() => {
      resolve();
    });
  });
  if (address === null || typeof address === 'string') {
    throw new Error('A TCP server on port 0 returned no port number.');
  }
  return address.port;
}

/** Sends a request to HAPI and returns the parsed body. */
export async function fhirRequest<T>(method: string, path: string, body?: Resource): Promise<T> {
  const response = await fetch(`${fhirBaseUrl}/${path}`, {
    method,
    // Without no-cache HAPI may return an earlier identical search's result, which misses new resources.
    headers: {
      'Content-Type': 'application/fhir+json',
      Accept: 'application/fhir+json',
      'Cache-Control': 'no-cache',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`${method} ${path} failed with HTTP ${response.status}: ${text.slice(0, 500)}`);
  }
  return (text === '' ? {} : JSON.parse(text)) as T;
}

/** Creates a resource on HAPI and records it for {@link deleteCreated}. */
export async function createResource<T extends Resource>(resource: T): Promise<T & { id: string }> {
  const stored = await fhirRequest<T>('POST', resource.resourceType, resource);
  assert.ok(stored.id, `HAPI returned a ${resource.resourceType} without id`);
  created.push(`${resource.resourceType}/${stored.id}`);
  return stored as T & { id: string };
}

/** Deletes what the run created, newest first, so Flags go before the Observations they point at. */
export async function deleteCreated(): Promise<void> {
  for (const reference of created.reverse()) {
    await fhirRequest('DELETE', reference).catch((error: unknown) => {
      process.stderr.write(`Cleanup of ${reference} failed: ${(error as Error).message}\n`);
    });
  }
  created.length = 0;
}

/** One undo step of a test setup, such as stopping a server or deleting what it wrote. */
export interface Cleanup {
  /** Name of what the step cleans up, used in the failure message. */
  name: string;
  run: () => Promise<unknown>;
}

/**
 * Runs the cleanups last first, reports each failure on stderr and goes on, then deletes the FHIR
 * resources that {@link createResource} recorded.
 */
export async function runCleanups(cleanups: Cleanup[]): Promise<void> {
  for (const step of cleanups.reverse()) {
    await step.run().catch((error: unknown) => {
      process.stderr.write(`Cleanup of ${step.name} failed: ${(error as Error).message}\n`);
    });
  }
  cleanups.length = 0;
  await deleteCreated();
}

/** Deletes every resource that a search on HAPI returns, such as `Flag?subject=Patient/1`. */
export async function deleteFound(search: string): Promise<void> {
  const bundle = await fhirRequest<Bundle>('GET', `${search}${search.includes('?') ? '&' : '?'}_count=500`);
  for (const entry of bundle.entry ?? []) {
    await fhirRequest('DELETE', `${entry.resource?.resourceType ?? ''}/${entry.resource?.id ?? ''}`);
  }
}

/**
 * Deletes what the analyzers of a running demo stack wrote about a model Device: their metric
 * Observations and the DeviceMetrics they point at. HAPI rejects deleting a Device that these reference.
 */
export async function deleteDeviceMetrics(deviceId: string): Promise<void> {
  const metrics = await fhirRequest<Bundle>('GET', `DeviceMetric?source=Device/${deviceId}&_count=500`);
  for (const entry of metrics.entry ?? []) {
    await deleteFound(`Observation?device=DeviceMetric/${entry.resource?.id ?? ''}`);
    await fhirRequest('DELETE', `DeviceMetric/${entry.resource?.id ?? ''}`);
  }
}

/** Fails with the command to run when HAPI FHIR is down. */
export async function assertHapiReachable(): Promise<void> {
  try {
    const response = await fetch(`${fhirBaseUrl}/metadata`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(response.status, 200);
  } catch (error) {
    assert.fail(
      `HAPI FHIR is not reachable at ${fhirBaseUrl} (${(error as Error).message}). Start it with "peers/peers.sh start hapi".`
    );
  }
}

/** Builds an AI result Observation of the first catalog model, as the data contract describes it. */
export function aiObservation(
  patientId: string,
  device: Device & { id: string },
  effectiveDateTime: string,
  probability: number,
  extra: Observation['extension'] = []
): Observation {
  const model = loadModelCatalog()[0];
  assert.ok(model, 'The demo model catalog is empty');
  return {
    resourceType: 'Observation',
    meta: { security: [AIAST] },
    status: 'final',
    code: { coding: [model.outputCode] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime,
    valueQuantity: { value: probability, unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
    device: { reference: `Device/${device.id}` },
    interpretation: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
            code: probability >= model.positiveThreshold ? 'POS' : 'NEG',
          },
        ],
      },
    ],
    extension: [
      { url: AI_CONFIDENCE_EXTENSION, valueDecimal: Math.max(probability, 1 - probability) },
      ...extra,
    ],
  };
}
