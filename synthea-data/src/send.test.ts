/**
 * The `send` command's core: placeholders and segment ends of message files, one MLLP connection to a
 * loopback test server, and the ERR segments of a rejection from the real hl7-listener.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { connectMongo, createLogger, loadConfig, type MongoHandle } from '@monitormed/common';
import { startListener } from '@monitormed/hl7-listener';
import { CliUsageError } from './cli-error.js';
import { startTestMllpServer } from './scenario/testing-mllp-server.js';
import { prepareMessage, sendMessageFiles } from './send.js';

const listenerFixtures = fileURLToPath(new URL('../../hl7-listener/test-fixtures/', import.meta.url));
const runId = randomUUID().slice(0, 8);
let folder = '';

void describe('send message files', () => {
  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'mm-send-'));
    await writeFile(
      join(folder, 'lf.hl7'),
      'MSH|^~\\&|A|B|C|D|20260314093005||ORU^R01|{{CONTROL_ID}}|P|2.5.1\nPID|1||{{PATIENT_ID}}\r\n\n'
    );
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  void it('fills placeholders and ends segments with CR', async () => {
    const message = await prepareMessage(join(folder, 'lf.hl7'), 'CTRL1', 'MRN-7');
    assert.equal(message, 'MSH|^~\\&|A|B|C|D|20260314093005||ORU^R01|CTRL1|P|2.5.1\rPID|1||MRN-7');
  });

  void it('missing patient id names the option', async () => {
    await assert.rejects(prepareMessage(join(folder, 'lf.hl7'), 'CTRL1', undefined), (err: unknown) => {
      assert.ok(err instanceof CliUsageError);
      assert.match(err.message, /contains \{\{PATIENT_ID\}\}: pass --patient/);
      return true;
    });
  });

  void it('sends each file with a fresh control id', async () => {
    const server = await startTestMllpServer();
    try {
      const file = join(folder, 'lf.hl7');
      const sent = await sendMessageFiles([file, file], {
        host: '127.0.0.1',
        port: server.port,
        patientId: 'MRN-7',
        ackTimeoutMs: 5_000,
      });

      assert.deepEqual(
        sent.map((result) => result.code),
        ['AA', 'AA']
      );
      assert.notEqual(sent[0]?.controlId, sent[1]?.controlId);
      assert.equal(server.received.length, 2);
      assert.match(
        server.received[0] ?? '',
        new RegExp(`\\|${sent[0]?.controlId ?? ''}\\|P\\|2\\.5\\.1\\rPID`)
      );
    } finally {
      await server.close();
    }
  });

  void it('rejection lists the ERR segment', async () => {
    const config = { ...loadConfig(), mongoDatabase: `monitormed_test_send_${runId}` };
    const listener = await startListener({
      config: { mllpPort: 0, mongoDatabase: config.mongoDatabase },
      logger: createLogger('hl7-listener', 'warn'),
    });
    try {
      const sent = await sendMessageFiles([join(listenerFixtures, 'oru-r01-empty-msh9.hl7')], {
        host: '127.0.0.1',
        port: listener.port,
        patientId: `SEND-${runId}`,
        ackTimeoutMs: 30_000,
      });

      const [result] = sent;
      assert.equal(sent.length, 1);
      assert.ok(result !== undefined);
      assert.notEqual(result.code, 'AA');
      assert.equal(result.errors.length, 1);
      // ERR-2 names the field: MSH-9, the empty message type.
      assert.match(result.errors[0] ?? '', /^ERR\|[^|]*\|MSH\^1\^9\|/);
    } finally {
      await listener.close();
      const mongo: MongoHandle | undefined = await connectMongo(config, 5_000).catch(() => undefined);
      await mongo?.db.dropDatabase();
      await mongo?.client.close();
    }
  });
});
