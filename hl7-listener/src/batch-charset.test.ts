import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Observation, Patient } from '@medplum/fhirtypes';
import {
  CARRIAGE_RETURN,
  END_BLOCK,
  START_BLOCK,
  createLogger,
  type FhirClient,
  type MongoHandle,
} from '@monitormed/common';
import { startListener, type ListenerHandle } from './index.js';
import type { MessageStore } from './store/message-store.js';
import { messagesOf, readMessage } from './test-support/pipeline-harness.js';
import { TestMllpClient, ackSegments } from './test-support/mllp-client.js';
import { FACILITY, TEST_MRN_SYSTEM, resultIdentifier, search } from './test-support/fhir.js';
import { loadFixture, requireFhir, requireMongo, runSuffix } from './test-support/peers.js';

const logger = createLogger('hl7-listener-batch-test', 'silent');

function frame(bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([START_BLOCK]), bytes, Buffer.from([END_BLOCK, CARRIAGE_RETURN])]);
}

/** Builds a text result (OBX-2 ST) with a note that declares `charset` in MSH-18. */
function textResult(
  controlId: string,
  patientId: string,
  charset: string,
  value: string,
  note: string
): string {
  return [
    `MSH|^~\\&|LABSYS|${FACILITY}|MONITORMED|${FACILITY}|20260314101500||ORU^R01|${controlId}|P|2.5.1||||||${charset}`,
    `PID|1||${patientId}^^^MMDEMO&${TEST_MRN_SYSTEM}&URI^MR||Synthetic^Patient||19700101|F`,
    `OBR|1||LAB-${controlId}|11502-2^Laboratory report^LN|||202603141000|||||||||||||||202603141014|||F`,
    `OBX|1|ST|8251-1^Service comment^LN||${value}||||||F`,
    `NTE|1|L|${note}`,
  ]
    .map((segment) => `${segment}\r`)
    .join('');
}

void describe('HL7 listener batches and character sets', () => {
  const suffix = runSuffix();
  const patientId = `B${suffix}`;
  let fhir: FhirClient;
  let mongo: MongoHandle | undefined;
  let messages: MessageStore;
  let listener: ListenerHandle | undefined;
  let client: TestMllpClient | undefined;
  let sequence = 0;
  const nextControlId = (): string => {
    sequence += 1;
    return `BC${suffix}-${sequence}`;
  };

  before(async () => {
    fhir = await requireFhir();
    mongo = await requireMongo();
    messages = messagesOf(mongo);
    (await fhir.create({
      resourceType: 'Patient',
      body: {
        resourceType: 'Patient',
        identifier: [{ system: TEST_MRN_SYSTEM, value: patientId }],
        gender: 'female',
        birthDate: '1970-01-01',
      },
    })) as unknown as Patient;
    listener = await startListener({ config: { mllpPort: 0, createMissingPatients: false }, mongo, logger });
    client = await TestMllpClient.connect(listener.port);
  });

  after(async () => {
    client?.close();
    await listener?.close();
    await mongo?.db.dropDatabase();
    await mongo?.client.close();
  });

  const connection = (): TestMllpClient => {
    assert.ok(client, 'listener did not start');
    return client;
  };

  const sepsis = (controlId: string): string =>
    loadFixture('oru-r01-sepsis-ai.hl7', { CONTROL_ID: controlId, PATIENT_ID: patientId });

  void it('acknowledges a batch file of two ORUs', async () => {
    const first = nextControlId();
    const second = nextControlId();
    const batchControlId = `BATCH-${suffix}`;
    const request = [
      `FHS|^~\\&|SEPSISAI|${FACILITY}|MONITORMED|${FACILITY}|20260314093010||||FILE-${suffix}\r`,
      `BHS|^~\\&|SEPSISAI|${FACILITY}|MONITORMED|${FACILITY}|20260314093010||||${batchControlId}\r`,
      sepsis(first),
      sepsis(second),
      'BTS|2\r',
      'FTS|1\r',
    ].join('');
    const reply = await connection().send(request);

    const names = reply
      .split('\r')
      .filter((s) => s !== '')
      .map((s) => s.slice(0, 3));
    assert.deepEqual(names, ['FHS', 'BHS', 'MSH', 'MSA', 'MSH', 'MSA', 'BTS', 'FTS']);
    assert.equal(ackSegments(reply, 'FHS')[0]?.[11], `FILE-${suffix}`);
    assert.equal(ackSegments(reply, 'BHS')[0]?.[11], batchControlId);
    assert.deepEqual(
      ackSegments(reply, 'MSA').map((msa) => msa.slice(1, 3)),
      [
        ['AA', first],
        ['AA', second],
      ]
    );
    assert.equal(ackSegments(reply, 'BTS')[0]?.[1], '2');
    assert.equal(ackSegments(reply, 'ERR').length, 0);

    const stored = await messages.findViews({ controlId: { $in: [first, second] } });
    assert.equal(stored.length, 2);
    assert.ok(stored.every((doc) => doc.status === 'processed'));
    const batchIds = new Set(stored.map((doc) => doc.batch?.id));
    assert.equal(batchIds.size, 1);
    assert.ok(!batchIds.has(undefined), 'stored messages are not linked to the batch');
    assert.deepEqual(stored.map((doc) => doc.batch?.index).sort(), [0, 1]);
    for (const controlId of [first, second]) {
      const found = await search<Observation>(fhir, 'Observation', {
        identifier: resultIdentifier(FACILITY, controlId, '1', '1'),
      });
      assert.equal(found.length, 1, `Observation of ${controlId} not written`);
    }
  });

  void it('reports a BTS count mismatch', async () => {
    const first = nextControlId();
    const second = nextControlId();
    const request = [
      `BHS|^~\\&|SEPSISAI|${FACILITY}|MONITORMED|${FACILITY}|20260314093010||||BATCH2-${suffix}\r`,
      sepsis(first),
      sepsis(second),
      'BTS|3\r',
    ].join('');
    const reply = await connection().send(request);

    const errors = ackSegments(reply, 'ERR');
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.[2], 'BTS^1^1');
    assert.match(errors[0][8] ?? '', /count is 3 but the batch contains 2/);
    assert.deepEqual(
      ackSegments(reply, 'MSA').map((msa) => msa[1]),
      ['AA', 'AA']
    );
    assert.equal(ackSegments(reply, 'FHS').length, 0);

    const stored = await messages.findViews({ controlId: { $in: [first, second] } });
    assert.deepEqual(
      stored.map((doc) => doc.status),
      ['processed', 'processed']
    );
  });

  void it('acknowledges concatenated messages as a batch', async () => {
    const first = nextControlId();
    const second = nextControlId();
    const reply = await connection().send(`${sepsis(first)}${sepsis(second)}`);

    const bhs = ackSegments(reply, 'BHS')[0];
    assert.ok(bhs, 'batch ACK has no BHS');
    assert.deepEqual(bhs.slice(2, 6), ['MONITORMED', FACILITY, 'SEPSISAI^MonitorMed Demo^L', FACILITY]);
    assert.deepEqual(
      ackSegments(reply, 'MSA').map((msa) => msa.slice(1, 3)),
      [
        ['AA', first],
        ['AA', second],
      ]
    );
    assert.equal(ackSegments(reply, 'BTS')[0]?.[1], '2');
    assert.equal(await messages.collection.countDocuments({ controlId: { $in: [first, second] } }), 2);
  });

  void it('round-trips ISO 8859-1 text', async () => {
    const controlId = nextControlId();
    const value = 'Prélèvement hémolysé, à refaire';
    const note = 'Contrôlé par Zoë Müller';
    const bytes = Buffer.from(textResult(controlId, patientId, '8859/1', value, note), 'latin1');
    await connection().writeRaw(frame(bytes));
    const reply = await connection().nextReply();
    assert.deepEqual(ackSegments(reply, 'MSA')[0]?.slice(1, 3), ['AA', controlId]);

    const [observation] = await search<Observation>(fhir, 'Observation', {
      identifier: resultIdentifier(FACILITY, controlId, '1', '1'),
    });
    assert.ok(observation, 'Observation not written');
    assert.equal(observation.valueString, value);
    assert.equal(observation.note?.[0]?.text, note);

    const stored = await readMessage(messages, controlId);
    assert.equal(stored?.charset, '8859/1');
    assert.equal(stored.rawBase64, bytes.toString('base64'));
  });

  void it('answers AE for invalid UTF-8', async () => {
    const controlId = nextControlId();
    // Text encoded as ISO 8859-1 while MSH-18 declares UTF-8: 0xE9 starts no valid UTF-8 sequence.
    const bytes = Buffer.from(textResult(controlId, patientId, 'UNICODE UTF-8', 'Hémolysé', 'x'), 'latin1');
    await connection().writeRaw(frame(bytes));
    const reply = await connection().nextReply();

    assert.deepEqual(ackSegments(reply, 'MSA')[0]?.slice(1, 3), ['AE', controlId]);
    const err = ackSegments(reply, 'ERR')[0];
    assert.equal(err?.[2], 'MSH^1^18');
    assert.match(err[8] ?? '', new RegExp(`UNICODE UTF-8.*byte offset ${bytes.indexOf(0xe9)}`));

    const stored = await readMessage(messages, controlId);
    assert.equal(stored?.status, 'failed');
    assert.equal(stored.rawBase64, bytes.toString('base64'));
    assert.equal(
      (
        await search<Observation>(fhir, 'Observation', {
          identifier: resultIdentifier(FACILITY, controlId, '1', '1'),
        })
      ).length,
      0
    );
  });

  void it('answers AE for an unknown MSH-18', async () => {
    const controlId = nextControlId();
    const reply = await connection().send(textResult(controlId, patientId, 'EBCDIC', 'plain', 'x'));
    assert.deepEqual(ackSegments(reply, 'MSA')[0]?.slice(1, 3), ['AE', controlId]);
    assert.equal(ackSegments(reply, 'ERR')[0]?.[3], '103^Table value not found^HL70357');
    assert.equal((await readMessage(messages, controlId))?.status, 'failed');
  });
});
