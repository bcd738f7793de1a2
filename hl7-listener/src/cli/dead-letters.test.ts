import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Observation } from '@medplum/fhirtypes';
import { createLogger, type FhirClient, type MongoHandle } from '@monitormed/common';
import type { DeadLetterDetail, DeadLetterSummary } from '../dead-letters.js';
import { runDeadLetterCommand } from './dead-letters-command.js';
import { startListener, type ListenerHandle } from '../index.js';
import type { MessageStore } from '../store/message-store.js';
import { FACILITY, resultIdentifier, search } from '../test-support/fhir.js';
import { TestMllpClient } from '../test-support/mllp-client.js';
import {
  buildOru,
  createSwitchableFhir,
  createTestPatient,
  messagesOf,
  readMessage,
  waitForStatus,
  type SwitchableFhir,
} from '../test-support/pipeline-harness.js';
import { requireFhir, requireMongo, runSuffix } from '../test-support/peers.js';

const CLI = fileURLToPath(new URL('./dead-letters.ts', import.meta.url));

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

void describe('dead-letters CLI', () => {
  const suffix = runSuffix();
  const patientId = `DL${suffix}`;
  let fhir: FhirClient;
  let mongo: MongoHandle | undefined;
  let messages: MessageStore;
  let switchable: SwitchableFhir;
  let listener: ListenerHandle | undefined;
  let client: TestMllpClient | undefined;
  let sequence = 0;

  /** Runs the command in this process, which is much faster than starting the script. */
  const cli = async (...args: string[]): Promise<CliResult> => {
    assert.ok(mongo, 'MongoDB is not connected');
    let stdout = '';
    let stderr = '';
    const code = await runDeadLetterCommand(
      args,
      {
        stdout: (text) => {
          stdout += text;
        },
        stderr: (text) => {
          stderr += text;
        },
      },
      { ...process.env, MONGO_DATABASE: mongo.db.databaseName }
    );
    return { code, stdout, stderr };
  };

  /** Runs the real script in a child process. */
  const script = (...args: string[]): Promise<CliResult> =>
    new Promise((resolve, reject) => {
      assert.ok(mongo, 'MongoDB is not connected');
      const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
        env: { ...process.env, MONGO_DATABASE: mongo.db.databaseName, LOG_LEVEL: 'silent' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
      child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        resolve({ code, stdout, stderr });
      });
    });

  /** Sends a message while FHIR is unreachable, so with one attempt allowed it goes to the dead-letter store. */
  const sendToDeadLetters = async (): Promise<string> => {
    assert.ok(client, 'listener did not start');
    sequence += 1;
    const controlId = `L${suffix}-${sequence}`;
    await client.send(buildOru({ controlId, patientId }));
    await waitForStatus(messages, controlId, ['dead']);
    return controlId;
  };
  const observationCount = async (controlId: string): Promise<number> =>
    (
      await search<Observation>(fhir, 'Observation', {
        identifier: resultIdentifier(FACILITY, controlId, '1', '1'),
      })
    ).length;

  before(async () => {
    fhir = await requireFhir();
    mongo = await requireMongo();
    messages = messagesOf(mongo);
    await createTestPatient(fhir, patientId);
    switchable = await createSwitchableFhir();
    listener = await startListener({
      config: {
        mllpPort: 0,
        pollIntervalMs: 50,
        maxAttempts: 1,
        channels: [{ name: 'fast', ackMode: 'immediate', duplicatePolicy: 'reject' }],
      },
      mongo,
      fhirClient: switchable.client,
      logger: createLogger('hl7-listener-test', 'silent'),
    });
    client = await TestMllpClient.connect(listener.port);
  });

  after(async () => {
    client?.close();
    await listener?.close();
    await mongo?.db.dropDatabase();
    await mongo?.client.close();
  });

  void it('lists, shows and replays one', async () => {
    switchable.disconnect();
    const controlId = await sendToDeadLetters();
    const id = (await readMessage(messages, controlId))?._id.toHexString() ?? '';

    const listed = await script('list', '--json');
    assert.equal(listed.code, 0, listed.stderr);
    const letters = JSON.parse(listed.stdout) as DeadLetterSummary[];
    const letter = letters.find((entry) => entry.id === id);
    assert.ok(letter, 'the dead letter is not listed');
    assert.equal(letter.controlId, controlId);
    assert.match(letter.reason ?? '', /FHIR server unreachable/);

    const text = await cli('list');
    assert.match(text.stdout, new RegExp(`${id}  dead`));

    const shown = await cli('show', id, '--json');
    assert.equal(shown.code, 0, shown.stderr);
    const detail = JSON.parse(shown.stdout) as DeadLetterDetail;
    assert.equal(detail.errors?.[0]?.errorCode, '207');
    assert.equal(detail.raw, undefined);
    const withRaw = JSON.parse((await cli('show', id, '--json', '--raw')).stdout) as DeadLetterDetail;
    assert.match(withRaw.raw ?? '', /^MSH\|/);

    switchable.connect();
    const replayed = await cli('replay', id);
    assert.equal(replayed.code, 0, replayed.stderr);
    assert.match(replayed.stdout, /Requeued 1 message/);
    const processed = await waitForStatus(messages, controlId, ['processed']);
    assert.equal(processed.replayCount, 1);
    assert.equal(await observationCount(controlId), 1);

    // A second replay of the same bytes, once processed, is refused and writes nothing.
    const again = await cli('replay', id);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /is processed; only dead, failed, rejected messages can be replayed/);
  });

  void it('replays all dead letters', async () => {
    switchable.disconnect();
    const controlIds = [await sendToDeadLetters(), await sendToDeadLetters()];
    switchable.connect();

    const replayed = await cli('replay', '--all', '--json');
    assert.equal(replayed.code, 0, replayed.stderr);
    const ids = (JSON.parse(replayed.stdout) as DeadLetterSummary[]).map((entry) => entry.controlId);
    assert.deepEqual([...ids].sort(), [...controlIds].sort());
    for (const controlId of controlIds) {
      await waitForStatus(messages, controlId, ['processed']);
      assert.equal(await observationCount(controlId), 1);
    }
    assert.deepEqual(JSON.parse((await cli('list', '--json')).stdout), []);
  });

  void it('explains invalid usage', async () => {
    const cases: [string[], RegExp][] = [
      [[], /Missing command/],
      [['purge'], /Unknown command "purge"/],
      [['show'], /show needs a message id/],
      [['show', 'abc'], /Invalid message id "abc"/],
      [['show', '0123456789abcdef01234567'], /No message with id 0123456789abcdef01234567/],
      [['replay'], /replay needs either one message id or --all/],
      [['list', '--limit', 'x'], /Invalid --limit "x"/],
      [['list', '--status', 'lost'], /Invalid --status "lost"/],
    ];
    for (const [args, expected] of cases) {
      const result = await cli(...args);
      assert.equal(result.code, 2, `exit status of ${args.join(' ')}`);
      assert.match(result.stderr, expected);
    }

    const fromScript = await script('show', 'abc');
    assert.equal(fromScript.code, 2);
    assert.match(fromScript.stderr, /Invalid message id "abc"/);
  });
});
