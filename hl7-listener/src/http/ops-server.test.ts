import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { connectMongo, createLogger, loadConfig, type MongoHandle } from '@monitormed/common';
import { startListener, type ListenerHandle } from '../index.js';
import { encodeFrame } from '../mllp/framing.js';
import { TEST_MRN_SYSTEM } from '../test-support/fhir.js';
import { TestMllpClient, ackSegments } from '../test-support/mllp-client.js';
import {
  PeerUnavailableError,
  loadFixture,
  requireFhir,
  runModels,
  runSuffix,
} from '../test-support/peers.js';
import { startTcpProxy, type TcpProxy } from '../test-support/tcp-proxy.js';
import { startOpsServer, type OpsServer } from './ops-server.js';

const logger = createLogger('hl7-listener-test', 'silent');

/** Samples of a Prometheus text exposition, keyed by `name{labels}` as printed. */
type Samples = Map<string, number>;

function parseMetrics(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) {
      continue;
    }
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

function delta(before: Samples, after: Samples, key: string): number {
  return (after.get(key) ?? 0) - (before.get(key) ?? 0);
}

void describe('Operations HTTP server', () => {
  const suffix = runSuffix();
  const patientId = `OPS${suffix}`;
  let proxy: TcpProxy | undefined;
  let mongo: MongoHandle | undefined;
  let listener: ListenerHandle | undefined;
  let ops: OpsServer | undefined;

  const baseUrl = (): string => {
    assert.ok(ops, 'operations server did not start');
    return `http://127.0.0.1:${ops.port}`;
  };

  const scrape = async (): Promise<Samples> => {
    const response = await fetch(`${baseUrl()}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    return parseMetrics(await response.text());
  };

  before(async () => {
    const fhir = await requireFhir();
    await fhir.create({
      resourceType: 'Patient',
      body: {
        resourceType: 'Patient',
        identifier: [{ system: TEST_MRN_SYSTEM, value: patientId }],
        gender: 'male',
        birthDate: '1960-05-05',
      },
    });

    // MongoDB is reached through a proxy this test owns, so the test can cut it off.
    const mongoUrl = new URL(loadConfig().mongoUrl);
    proxy = await startTcpProxy(mongoUrl.hostname, Number(mongoUrl.port || 27017));
    const proxiedUrl = `mongodb://127.0.0.1:${proxy.port}/?directConnection=true`;
    try {
      mongo = await connectMongo(
        { mongoUrl: proxiedUrl, mongoDatabase: `monitormed_test_ops_${suffix.toLowerCase()}` },
        5_000
      );
    } catch (err) {
      throw new PeerUnavailableError('MongoDB (FerretDB)', loadConfig().mongoUrl, err);
    }

    listener = await startListener({ config: { mllpPort: 0 }, mongo, models: runModels(suffix), logger });
    const running = listener;
    ops = await startOpsServer({
      host: '127.0.0.1',
      port: 0,
      metrics: running.metrics,
      checkHealth: () => running.checkHealth(),
      logger,
    });
  });

  after(async () => {
    await ops?.close();
    await ops?.close();
    await listener?.close();
    await proxy?.restart();
    await mongo?.db.dropDatabase().catch(() => undefined);
    await mongo?.client.close();
    await proxy?.stop();
  });

  void it('counts messages, ACKs and bytes', async () => {
    assert.ok(listener, 'listener did not start');
    const before = await scrape();
    const client = await TestMllpClient.connect(listener.port);
    let sentBytes = 0;
    try {
      for (let index = 1; index <= 3; index += 1) {
        const text = loadFixture('oru-r01-sepsis-ai.hl7', {
          CONTROL_ID: `O${suffix}-${index}`,
          PATIENT_ID: patientId,
        });
        sentBytes += encodeFrame(text).length;
        const ack = await client.send(text);
        assert.equal(ackSegments(ack, 'MSA')[0]?.[1], 'AA', ack);
      }
      const adt = loadFixture('adt-a01.hl7', { CONTROL_ID: `O${suffix}-ADT`, PATIENT_ID: patientId });
      sentBytes += encodeFrame(adt).length;
      assert.equal(ackSegments(await client.send(adt), 'MSA')[0]?.[1], 'AR');

      const after = await scrape();
      assert.equal(delta(before, after, 'hl7_messages_received_total{message_type="ORU^R01"}'), 3);
      assert.equal(delta(before, after, 'hl7_messages_received_total{message_type="ADT^A01"}'), 1);
      assert.equal(delta(before, after, 'hl7_acks_total{code="AA"}'), 3);
      assert.equal(delta(before, after, 'hl7_acks_total{code="AR"}'), 1);
      assert.equal(delta(before, after, 'hl7_received_bytes_total'), sentBytes);
      assert.equal(after.get('hl7_open_connections'), 1);
      assert.equal(delta(before, after, 'hl7_ack_latency_seconds_count'), 4);
      // The ADT message is rejected before processing, so only the three ORU messages are processed.
      assert.equal(delta(before, after, 'hl7_processing_duration_seconds_count'), 3);
      assert.ok(delta(before, after, 'hl7_processing_duration_seconds_sum') > 0);
      assert.equal(after.get('hl7_processing_queue_depth'), 0);
      assert.equal(after.get('hl7_rejected_connections_total{reason="limit"}'), 0);
      assert.equal(after.get('hl7_rejected_connections_total{reason="shutdown"}'), 0);
    } finally {
      client.close();
    }
    await client.waitClosed(1_000);
    await delay(50);
    assert.equal((await scrape()).get('hl7_open_connections'), 0);
  });

  void it('answers 404 and 405', async () => {
    const missing = await fetch(`${baseUrl()}/status`);
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as { error: string }).error, /GET \/metrics and GET \/health/);

    const posted = await fetch(`${baseUrl()}/metrics`, { method: 'POST' });
    assert.equal(posted.status, 405);
    assert.equal(posted.headers.get('allow'), 'GET, HEAD');
    await posted.body?.cancel();
  });

  void it('reports health from MongoDB', async () => {
    assert.ok(proxy, 'proxy did not start');
    const healthy = await fetch(`${baseUrl()}/health`);
    assert.equal(healthy.status, 200);
    assert.deepEqual(await healthy.json(), { status: 'ok' });

    await proxy.stop();
    const down = await fetch(`${baseUrl()}/health`);
    assert.equal(down.status, 503);
    const report = (await down.json()) as { status: string; reason: string };
    assert.equal(report.status, 'unavailable');
    assert.match(report.reason, /MongoDB/);

    await proxy.restart();
    let status = 0;
    for (let attempt = 0; attempt < 20 && status !== 200; attempt += 1) {
      status = (await fetch(`${baseUrl()}/health`)).status;
      if (status !== 200) {
        await delay(250);
      }
    }
    assert.equal(status, 200, '/health did not recover after MongoDB came back');
  });
});
