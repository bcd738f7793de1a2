import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Observation } from '@medplum/fhirtypes';
import type { FhirClient, MongoHandle } from '@monitormed/common';
import { encodeFrame } from './mllp/framing.js';
import { messagesOf, readMessage } from './test-support/pipeline-harness.js';
import { FACILITY, TEST_MRN_SYSTEM, resultIdentifier, search } from './test-support/fhir.js';
import { TestMllpClient, ackSegments } from './test-support/mllp-client.js';
import { loadFixture, requireFhir, requireMongo, runSuffix } from './test-support/peers.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    })
  );
  return port;
}

/** A listener started with `main.ts` in a child process, as in production. */
interface MainProcess {
  child: ChildProcess;
  mllpPort: number;
  httpPort: number;
  /** Log lines and errors written so far. */
  output(): string;
  exited: Promise<number | null>;
}

async function startMain(env: Record<string, string>): Promise<MainProcess> {
  const mllpPort = await freePort();
  const httpPort = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'hl7-listener/src/main.ts'], {
    cwd: new URL('../../', import.meta.url).pathname,
    env: {
      ...process.env,
      MLLP_PORT: String(mllpPort),
      HL7_HTTP_PORT: String(httpPort),
      LOG_LEVEL: 'info',
      LOG_DESTINATION: 'stdout',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output += chunk.toString();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, mllpPort, httpPort, output: () => output, exited };
}

/** Waits for `predicate` to hold, checking every 100 ms. */
async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) {
      return true;
    }
    await delay(100);
  }
  return predicate();
}

async function waitStarted(main: MainProcess): Promise<void> {
  const started = await waitFor(() => main.output().includes('HL7 MLLP listener started'), 30_000);
  assert.ok(started, `listener did not start:\n${main.output()}`);
}

async function stopMain(main: MainProcess): Promise<void> {
  main.child.kill('SIGTERM');
  await Promise.race([main.exited, delay(10_000)]);
  main.child.kill('SIGKILL');
}

void describe('Listener shutdown and lost ACKs', () => {
  const suffix = runSuffix();
  const patientId = `SD${suffix}`;
  let fhir: FhirClient;
  let mongo: MongoHandle | undefined;

  const database = (): MongoHandle => {
    assert.ok(mongo, 'MongoDB is not connected');
    return mongo;
  };

  const labMessage = (controlId: string): string =>
    loadFixture('oru-r01-lab-nonai.hl7', { CONTROL_ID: controlId, PATIENT_ID: patientId });

  const observationCount = async (controlId: string): Promise<number> => {
    const found = await search<Observation>(fhir, 'Observation', {
      identifier: resultIdentifier(FACILITY, controlId, '1', '1'),
    });
    return found.length;
  };

  before(async () => {
    fhir = await requireFhir();
    mongo = await requireMongo();
    await fhir.create({
      resourceType: 'Patient',
      body: {
        resourceType: 'Patient',
        identifier: [{ system: TEST_MRN_SYSTEM, value: patientId }],
        gender: 'female',
        birthDate: '1970-01-01',
      },
    });
  });

  after(async () => {
    await mongo?.db.dropDatabase();
    await mongo?.client.close();
  });

  void it('processes a message whose ACK was never read', async () => {
    const main = await startMain({ MONGO_DATABASE: database().db.databaseName });
    const messages = messagesOf(database());
    try {
      await waitStarted(main);
      const lostControlId = `LOST${suffix}`;
      const impatient = await TestMllpClient.connect(main.mllpPort);
      await impatient.writeRaw(encodeFrame(labMessage(lostControlId)));
      impatient.destroy();

      const processed = await waitFor(
        async () => (await readMessage(messages, lostControlId))?.status === 'processed',
        20_000
      );
      assert.ok(processed, 'message of a closed connection was not processed');
      assert.equal(await observationCount(lostControlId), 1);
      const logged = await waitFor(
        () => main.output().includes('MLLP peer closed the connection before the ACK was sent'),
        5_000
      );
      assert.ok(logged, `the lost ACK was not logged:\n${main.output()}`);
      assert.ok(
        main.output().includes(`"controlId":"${lostControlId}"`),
        'the lost ACK log lacks the control id'
      );

      const other = await TestMllpClient.connect(main.mllpPort);
      try {
        const controlId = `NEXT${suffix}`;
        const ack = await other.send(labMessage(controlId));
        assert.deepEqual(ackSegments(ack, 'MSA')[0]?.slice(1, 3), ['AA', controlId]);
      } finally {
        other.close();
      }
    } finally {
      await stopMain(main);
    }
  });

  void it('finishes a half frame on SIGTERM', async () => {
    const main = await startMain({ MONGO_DATABASE: database().db.databaseName, HL7_CLOSE_GRACE_MS: '5000' });
    try {
      await waitStarted(main);
      const health = await fetch(`http://127.0.0.1:${main.httpPort}/health`);
      assert.equal(health.status, 200);

      const controlId = `TERM${suffix}`;
      const frame = encodeFrame(labMessage(controlId));
      const client = await TestMllpClient.connect(main.mllpPort);
      const half = Math.floor(frame.length / 2);
      await client.writeRaw(frame.subarray(0, half));
      await delay(100);

      main.child.kill('SIGTERM');
      const stopping = await waitFor(() => main.output().includes('Stopping HL7 MLLP listener'), 10_000);
      assert.ok(stopping, `listener did not log the SIGTERM:\n${main.output()}`);
      await assert.rejects(TestMllpClient.connect(main.mllpPort), /ECONNREFUSED/);

      await client.writeRaw(frame.subarray(half));
      const ack = await client.nextReply(15_000);
      assert.deepEqual(ackSegments(ack, 'MSA')[0]?.slice(1, 3), ['AA', controlId]);
      assert.equal(await client.waitClosed(10_000), true, 'listener kept the connection open after its ACK');

      const exitCode = await Promise.race([main.exited, delay(15_000, 'timeout')]);
      assert.equal(exitCode, 0, `listener did not exit cleanly:\n${main.output()}`);
      assert.match(main.output(), /HL7 MLLP listener stopped/);
      assert.equal(await observationCount(controlId), 1);
    } finally {
      main.child.kill('SIGKILL');
    }
  });

  void it('exits 1 with a missing TLS file', async () => {
    const main = await startMain({
      HL7_TLS_CERT_FILE: '/nonexistent/server.crt',
      HL7_TLS_KEY_FILE: '/nonexistent/server.key',
    });
    const exitCode = await Promise.race([main.exited, delay(30_000, 'timeout')]);
    main.child.kill('SIGKILL');
    assert.equal(exitCode, 1);
    assert.match(main.output(), /Cannot read HL7_TLS_CERT_FILE=\\"\/nonexistent\/server.crt\\"/);
  });
});
