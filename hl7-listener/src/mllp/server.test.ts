import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, describe, it } from 'node:test';
import { createLogger } from '@monitormed/common';
import { buildAck } from '../ack/ack-builder.js';
import { peekHeader } from '../hl7/message.js';
import { createListenerMetrics, type ListenerMetrics } from '../metrics.js';
import { TestMllpClient, ackSegments } from '../test-support/mllp-client.js';
import { encodeFrame } from './framing.js';
import { MllpServer, type InboundFrame } from './server.js';

const logger = createLogger('hl7-listener-test', 'silent');

function message(controlId: string): string {
  return `MSH|^~\\&|APP|FAC|MM|MMFAC|20260314||ORU^R01|${controlId}|P|2.5.1\rPID|1||X\r`;
}

/** Handler that acknowledges each message AA after `delayMs` and rejects oversized frames. */
function ackingHandler(delayMs = 0): (frame: InboundFrame) => Promise<string> {
  return async (frame) => {
    await delay(delayMs);
    const text = (frame.kind === 'message' ? frame.payload : frame.head).toString('utf8');
    const header = peekHeader(text).fields;
    if (frame.kind === 'oversized') {
      return buildAck({
        code: 'AR',
        originalHeader: header,
        issues: [{ ackCode: 'AR', errorCode: '207', text: 'too large' }],
      });
    }
    return buildAck({ code: 'AA', originalHeader: header, issues: [] });
  };
}

async function startServer(
  options: {
    delayMs?: number;
    maxMessageBytes?: number;
    idleTimeoutMs?: number;
    closeGraceMs?: number;
    maxConnections?: number;
    metrics?: ListenerMetrics;
  } = {}
): Promise<MllpServer> {
  const server = new MllpServer({
    host: '127.0.0.1',
    port: 0,
    handler: ackingHandler(options.delayMs),
    logger,
    maxMessageBytes: options.maxMessageBytes ?? 1024,
    idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
    closeGraceMs: options.closeGraceMs ?? 2_000,
    ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
  });
  await server.listen();
  return server;
}

void describe('MllpServer', () => {
  const servers: MllpServer[] = [];
  after(async () => {
    await Promise.all(servers.map((server) => server.close()));
  });

  void it('frees a frame whose writer is kept', async () => {
    // An enhanced-mode message keeps its writer until its application ACK, so the writer must not
    // keep the frame's bytes alive.
    setFlagsFromString('--expose-gc');
    const collectGarbage = runInNewContext('gc') as () => void;
    const writers: unknown[] = [];
    let payload: WeakRef<Buffer> | undefined;
    const server = new MllpServer({
      host: '127.0.0.1',
      port: 0,
      handler: (frame) => {
        writers.push(frame.send);
        if (frame.kind === 'message') {
          payload = new WeakRef(frame.payload);
        }
        return Promise.resolve(buildAck({ code: 'AA', originalHeader: [], issues: [] }));
      },
      logger,
    });
    await server.listen();
    servers.push(server);
    const client = await TestMllpClient.connect(server.port);
    await client.send(message('KEPT-WRITER'), 5_000);

    // A WeakRef keeps its target until the job that made it ends, so the collection waits a turn.
    await delay(10);
    collectGarbage();

    assert.equal(writers.length, 1);
    assert.notEqual(payload, undefined);
    assert.equal(payload?.deref(), undefined);
    client.close();
  });

  void it('answers frames split byte by byte', async () => {
    const server = await startServer();
    servers.push(server);
    const client = await TestMllpClient.connect(server.port);
    for (const byte of encodeFrame(message('SPLIT-1'))) {
      await client.writeRaw(Buffer.from([byte]));
    }
    const ack = await client.nextReply(5_000);
    assert.equal(ackSegments(ack, 'MSA')[0]?.[1], 'AA');
    assert.equal(ackSegments(ack, 'MSA')[0]?.[2], 'SPLIT-1');
    client.close();
  });

  void it('answers two frames with NULs in one packet, in order', async () => {
    const server = await startServer({ delayMs: 20 });
    servers.push(server);
    const client = await TestMllpClient.connect(server.port);
    await client.writeRaw(
      Buffer.concat([
        Buffer.from([0, 0]),
        encodeFrame(message('TWO-1')),
        Buffer.from([0, 0x0a]),
        encodeFrame(message('TWO-2')),
      ])
    );
    const first = await client.nextReply(5_000);
    const second = await client.nextReply(5_000);
    assert.equal(ackSegments(first, 'MSA')[0]?.[2], 'TWO-1');
    assert.equal(ackSegments(second, 'MSA')[0]?.[2], 'TWO-2');
    client.close();
  });

  void it('rejects an oversized frame and keeps the connection', async () => {
    const server = await startServer({ maxMessageBytes: 200 });
    servers.push(server);
    const client = await TestMllpClient.connect(server.port);
    const big = `${message('BIG-1')}OBX|1|TX|NOTE||${'x'.repeat(5_000)}\r`;
    const rejected = await client.send(big, 5_000);
    assert.equal(ackSegments(rejected, 'MSA')[0]?.[1], 'AR');
    assert.equal(ackSegments(rejected, 'MSA')[0]?.[2], 'BIG-1');
    const accepted = await client.send(message('AFTER-BIG'), 5_000);
    assert.equal(ackSegments(accepted, 'MSA')[0]?.[1], 'AA');
    client.close();
  });

  void it('answers many pipelined frames in order', async () => {
    const server = await startServer({ delayMs: 2 });
    servers.push(server);
    const client = await TestMllpClient.connect(server.port);
    const frames = Array.from({ length: 100 }, (_, index) => encodeFrame(message(`PIPE-${index}`)));
    await client.writeRaw(Buffer.concat(frames));
    for (let index = 0; index < 100; index += 1) {
      const ack = await client.nextReply(5_000);
      assert.equal(ackSegments(ack, 'MSA')[0]?.[2], `PIPE-${index}`);
    }
    client.close();
  });

  void it('closes an idle connection', async () => {
    const server = await startServer({ idleTimeoutMs: 200 });
    servers.push(server);
    const client = await TestMllpClient.connect(server.port);
    await client.send(message('IDLE-1'), 5_000);
    await delay(600);
    assert.equal(client.closed, true);
  });

  void it('finishes a message in flight on close', async () => {
    const server = await startServer({ delayMs: 300 });
    const client = await TestMllpClient.connect(server.port);
    await client.writeRaw(encodeFrame(message('INFLIGHT-1')));
    await delay(50);
    const closing = server.close();
    const ack = await client.nextReply(5_000);
    assert.equal(ackSegments(ack, 'MSA')[0]?.[2], 'INFLIGHT-1');
    await closing;
    await server.close();
    assert.equal(client.closed, true);
  });

  void it('answers a half-received frame on close', async () => {
    const server = await startServer({ closeGraceMs: 3_000 });
    const client = await TestMllpClient.connect(server.port);
    const frame = encodeFrame(message('HALF-1'));
    const half = Math.floor(frame.length / 2);
    await client.writeRaw(frame.subarray(0, half));
    await delay(50);

    const closing = server.close();
    await delay(200);
    assert.equal(client.closed, false, 'server closed a connection with a frame half received');
    await client.writeRaw(frame.subarray(half));
    const ack = await client.nextReply(2_000);
    assert.equal(ackSegments(ack, 'MSA')[0]?.[2], 'HALF-1');

    await closing;
    assert.equal(await client.waitClosed(1_000), true);
  });

  void it('drops an unfinished frame after the grace period', async () => {
    const server = await startServer({ closeGraceMs: 300 });
    const client = await TestMllpClient.connect(server.port);
    await client.writeRaw(encodeFrame(message('NEVER-1')).subarray(0, 20));
    await delay(50);

    const startedAt = Date.now();
    await server.close();
    assert.ok(Date.now() - startedAt < 2_000, 'close() waited past the grace period');
    assert.equal(await client.waitClosed(1_000), true);
  });

  void it('rejects connections over the limit', async () => {
    const metrics = createListenerMetrics();
    const server = await startServer({ maxConnections: 2, metrics });
    servers.push(server);
    const first = await TestMllpClient.connect(server.port);
    const second = await TestMllpClient.connect(server.port);
    await first.send(message('LIMIT-1'), 5_000);
    await second.send(message('LIMIT-2'), 5_000);

    const third = await TestMllpClient.connect(server.port);
    assert.equal(await third.waitClosed(2_000), true, 'connection over the limit was not closed');
    const rejected = (await metrics.rejectedConnections.get()).values.find(
      (v) => v.labels.reason === 'limit'
    );
    assert.equal(rejected?.value, 1);
    assert.equal((await metrics.openConnections.get()).values[0]?.value, 2);

    const stillServed = await first.send(message('LIMIT-3'), 5_000);
    assert.equal(ackSegments(stillServed, 'MSA')[0]?.[1], 'AA');
    second.close();
    await second.waitClosed(2_000);
    await delay(50);

    const replacement = await TestMllpClient.connect(server.port);
    const served = await replacement.send(message('LIMIT-4'), 5_000);
    assert.equal(ackSegments(served, 'MSA')[0]?.[2], 'LIMIT-4');
    first.close();
    replacement.close();
  });
});
