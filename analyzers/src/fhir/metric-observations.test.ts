/**
 * Metric Observations written to the real HAPI FHIR peer. Covered: windows of one new model written at
 * the same time, which race to create the model's DeviceMetric.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Bundle, Device } from '@medplum/fhirtypes';
import { createFhirClient, loadConfig, MODEL_ID_SYSTEM, type FhirClient } from '@monitormed/common';
import {
  DEVICE_METRIC_ID_SYSTEM,
  writeMetricObservations,
  type MetricRecord,
} from './metric-observations.js';

const runId = randomUUID().slice(0, 8);
const modelId = `test-metric-race-${runId}`;
const config = loadConfig();
let client: FhirClient | undefined;
let deviceId = '';

function record(window: string): MetricRecord {
  return {
    modelId,
    modelVersion: '1.0.0',
    metric: 'output-mean',
    subgroup: 'all',
    window,
    value: 0.4,
    n: 20,
  };
}

/** Searches HAPI with no-cache, because HAPI otherwise reuses an identical search's results. */
async function search(query: string): Promise<Bundle> {
  const response = await fetch(`${config.fhirBaseUrl}/${query}`, {
    headers: { accept: 'application/fhir+json', 'cache-control': 'no-cache' },
  });
  return (await response.json()) as Bundle;
}

void describe('metric Observations', () => {
  before(async () => {
    client = createFhirClient(config);
    const device = (await client.create({
      resourceType: 'Device',
      body: { resourceType: 'Device', identifier: [{ system: MODEL_ID_SYSTEM, value: modelId }] },
    })) as Device;
    deviceId = device.id ?? '';
  });

  after(async () => {
    await client
      ?.request(`Observation?focus=Device/${deviceId}`, { method: 'DELETE' })
      .catch(() => undefined);
    await client
      ?.request(`DeviceMetric?source=Device/${deviceId}`, { method: 'DELETE' })
      .catch(() => undefined);
    await client?.delete({ resourceType: 'Device', id: deviceId }).catch(() => undefined);
  });

  void it('concurrent windows share one DeviceMetric', async () => {
    assert.ok(client !== undefined, 'the before hook did not create the FHIR client');
    const windows = ['2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05', '2026-03-06', '2026-03-07'];

    const counts = await Promise.all(
      windows.map((window) =>
        writeMetricObservations(client as FhirClient, [record(window)], `Device/${deviceId}`)
      )
    );

    assert.deepEqual(counts, [1, 1, 1, 1, 1, 1]);
    const identifier = encodeURIComponent(`${DEVICE_METRIC_ID_SYSTEM}|${modelId}|output-mean`);
    const deviceMetrics = await search(`DeviceMetric?identifier=${identifier}`);
    assert.equal(deviceMetrics.total, 1);
    const observations = await search(`Observation?focus=Device/${deviceId}&_summary=count`);
    assert.equal(observations.total, windows.length);
  });
});
