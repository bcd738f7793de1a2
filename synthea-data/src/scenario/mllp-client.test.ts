import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { MllpClient, parseAck } from './mllp-client.js';
import { MllpError } from './mllp-error.js';
import { startTestMllpServer, type TestMllpServer } from './testing-mllp-server.js';

/** Builds a message with control id `id`; the text after it steers the test server. */
function message(id: string, behaviour = ''): string {
  return `MSH|^~\\&|TEST|FAC|RCV|RCV|20260301000000+0000||ORU^R01^ORU_R01|${id}|P|2.5.1\rNTE|1||${behaviour}\r`;
}

void describe('parseAck', () => {
  void it('reads MSA-1 and MSA-2', () => {
    const ack = parseAck('MSH|^~\\&|A|B|C|D|20260301||ACK|1|P|2.5.1\rMSA|AE|CTRL1|bad\r');
    assert.equal(ack.code, 'AE');
    assert.equal(ack.controlId, 'CTRL1');
  });

  void it('rejects an ACK without MSA', () => {
    assert.throws(() => parseAck('MSH|^~\\&|A\r'), MllpError);
  });
});

void describe('MllpClient', () => {
  let server: TestMllpServer;
  before(async () => {
    server = await startTestMllpServer();
  });
  after(async () => {
    await server.close();
  });

  void it('sends framed messages and counts ACK codes', async () => {
    const client = new MllpClient({ host: '127.0.0.1', port: server.port, ackTimeoutMs: 2000 });
    try {
      const acks = await Promise.all([
        client.send(message('M1')),
        client.send(message('M2', 'ERROR')),
        client.send(message('M3', 'REJECT')),
        client.send(message('M4')),
      ]);
      assert.deepEqual(
        acks.map((a) => a.code),
        ['AA', 'AE', 'AR', 'AA']
      );
      assert.deepEqual(
        acks.map((a) => a.controlId),
        ['M1', 'M2', 'M3', 'M4']
      );
      assert.deepEqual(client.counts, { AA: 2, AE: 1, AR: 1 });
      assert.ok(server.received.includes(message('M1')), 'the server received the message unchanged');
      assert.equal(server.framingErrors, 0);
    } finally {
      await client.close();
    }
  });

  void it('times out without an ACK', async () => {
    const client = new MllpClient({ host: '127.0.0.1', port: server.port, ackTimeoutMs: 200 });
    try {
      await assert.rejects(
        client.send(message('M5', 'NOACK')),
        (err: unknown) => err instanceof MllpError && /No ACK within 200 ms/.test(err.message)
      );
      // The connection is reopened for the next message.
      const ack = await client.send(message('M6'));
      assert.equal(ack.code, 'AA');
    } finally {
      await client.close();
    }
  });

  void it('rejects an ACK for another message', async () => {
    const client = new MllpClient({ host: '127.0.0.1', port: server.port, ackTimeoutMs: 2000 });
    try {
      await assert.rejects(
        client.send(message('M7', 'WRONGID')),
        /ACK is for control id "OTHER", expected "M7"/
      );
    } finally {
      await client.close();
    }
  });

  void it('closes safely twice', async () => {
    const client = new MllpClient({ host: '127.0.0.1', port: server.port });
    await client.send(message('M8'));
    await client.close();
    await client.close();
  });

  void it('fails clearly when nothing listens', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const address = probe.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    await new Promise<void>((resolve) => {
      probe.close(() => {
        resolve();
      });
    });

    const client = new MllpClient({ host: '127.0.0.1', port });
    await assert.rejects(
      client.send(message('M9')),
      (err: unknown) => err instanceof MllpError && /Cannot connect to the MLLP listener/.test(err.message)
    );
    await client.close();
  });
});
