import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Device, DiagnosticReport, Observation, Patient, Provenance } from '@medplum/fhirtypes';
import {
  AIAST,
  AI_CONFIDENCE_EXTENSION,
  AI_DEVICE_TYPE,
  MODEL_ID_SYSTEM,
  createLogger,
  hasAiLabel,
  type FhirClient,
  type MongoHandle,
} from '@monitormed/common';
import { startListener, type ListenerHandle } from './index.js';
import type { MessageStore } from './store/message-store.js';
import { messagesOf, readMessage } from './test-support/pipeline-harness.js';
import { TestMllpClient, ackSegments } from './test-support/mllp-client.js';
import { FACILITY, TEST_MRN_SYSTEM, resultIdentifier, search } from './test-support/fhir.js';
import { loadFixture, requireFhir, requireMongo, runSuffix } from './test-support/peers.js';

const logger = createLogger('hl7-listener-test', 'silent');

function msa(ack: string): string[] {
  return ackSegments(ack, 'MSA')[0] ?? [];
}

void describe('HL7 listener over MLLP', () => {
  const suffix = runSuffix();
  const patientId = `P${suffix}`;
  let fhir: FhirClient;
  let mongo: MongoHandle | undefined;
  let messages: MessageStore;
  let listener: ListenerHandle | undefined;
  let client: TestMllpClient | undefined;
  let patient: Patient;
  let sequence = 0;
  const nextControlId = (): string => {
    sequence += 1;
    return `C${suffix}-${sequence}`;
  };

  before(async () => {
    fhir = await requireFhir();
    mongo = await requireMongo();
    messages = messagesOf(mongo);
    patient = (await fhir.create({
      resourceType: 'Patient',
      body: {
        resourceType: 'Patient',
        identifier: [{ system: TEST_MRN_SYSTEM, value: patientId }],
        gender: 'female',
        birthDate: '1970-01-01',
      },
    })) as unknown as Patient;
    listener = await startListener({
      config: { mllpPort: 0, maxMessageBytes: 8_192, createMissingPatients: false },
      mongo,
      logger,
    });
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
  const database = (): MongoHandle => {
    assert.ok(mongo, 'MongoDB is not connected');
    return mongo;
  };

  void it('stores and labels an AI result', async () => {
    const controlId = nextControlId();
    const text = loadFixture('oru-r01-sepsis-ai.hl7', { CONTROL_ID: controlId, PATIENT_ID: patientId });
    const ack = await connection().send(text);
    assert.deepEqual(msa(ack).slice(1, 3), ['AA', controlId]);
    assert.equal(ackSegments(ack, 'ERR').length, 0);

    const [observation, ...extraObservations] = await search<Observation>(fhir, 'Observation', {
      identifier: resultIdentifier(FACILITY, controlId, '1', '1'),
    });
    assert.ok(observation, 'AI Observation not found by its HL7 result identifier');
    assert.equal(extraObservations.length, 0);
    assert.ok(hasAiLabel(observation.meta));
    assert.equal(observation.subject?.reference, `Patient/${patient.id ?? ''}`);
    assert.equal(observation.code.coding?.[0]?.code, 'MM-SEPSIS-RISK');
    assert.deepEqual(observation.valueQuantity, {
      value: 0.82,
      unit: '1',
      system: 'http://unitsofmeasure.org',
      code: '1',
    });
    assert.equal(observation.extension?.find((e) => e.url === AI_CONFIDENCE_EXTENSION)?.valueDecimal, 0.82);
    assert.equal(observation.interpretation?.[0]?.coding?.[0]?.code, 'POS');
    assert.equal(observation.effectiveDateTime, '2026-03-14T09:30:00+01:00');
    assert.equal(observation.note?.[0]?.text, 'Score computed from vitals & labs.');

    const deviceId = observation.device?.reference?.replace('Device/', '') ?? '';
    const device = (await fhir.read({ resourceType: 'Device', id: deviceId })) as unknown as Device;
    assert.deepEqual(device.identifier?.[0], { system: MODEL_ID_SYSTEM, value: 'sepsis-risk' });

    const [report] = await search<DiagnosticReport>(fhir, 'DiagnosticReport', {
      identifier: resultIdentifier(FACILITY, controlId, '1'),
    });
    assert.ok(report, 'DiagnosticReport not found');
    assert.ok(hasAiLabel(report.meta));
    assert.equal(report.status, 'final');
    assert.deepEqual(report.result, [{ reference: `Observation/${observation.id ?? ''}` }]);

    const provenances = await search<Provenance>(fhir, 'Provenance', {
      target: `Observation/${observation.id ?? ''}`,
    });
    assert.equal(provenances.length, 1);
    const provenance = provenances[0];
    assert.equal(provenance?.agent[0]?.who.reference, `Device/${deviceId}`);
    assert.equal(provenance.agent[0].role?.[0]?.coding?.[0]?.code, AI_DEVICE_TYPE.code);
    assert.equal(provenance.reason?.[0]?.coding?.[0]?.code, AIAST.code);
    assert.ok(provenance.target.some((target) => target.reference === `DiagnosticReport/${report.id ?? ''}`));

    const stored = await readMessage(messages, controlId);
    assert.ok(stored, 'message not stored in MongoDB');
    assert.equal(stored.status, 'processed');
    assert.equal(stored.ackCode, 'AA');
    assert.equal(stored.raw, text);
    assert.equal(stored.byteLength, Buffer.byteLength(text));
    assert.equal(stored.sendingApplication, 'SEPSISAI');
    assert.equal(stored.messageType, 'ORU^R01');
    assert.ok(stored.resourceIds?.includes(`Observation/${observation.id ?? ''}`));

    // A resend of the same bytes gets the stored ACK again and creates nothing.
    const replay = await connection().send(text);
    assert.equal(replay, ack);
    const afterReplay = await search<Observation>(fhir, 'Observation', {
      identifier: resultIdentifier(FACILITY, controlId, '1', '1'),
    });
    assert.equal(afterReplay.length, 1);
    assert.equal(afterReplay[0]?.id, observation.id);
    assert.equal(
      (await search<Provenance>(fhir, 'Provenance', { target: `Observation/${observation.id ?? ''}` }))
        .length,
      1
    );
    assert.equal(await messages.collection.countDocuments({ controlId }), 1);
  });

  void it('passes a non-AI lab result unlabelled', async () => {
    const controlId = nextControlId();
    const ack = await connection().send(
      loadFixture('oru-r01-lab-nonai.hl7', { CONTROL_ID: controlId, PATIENT_ID: patientId })
    );
    assert.deepEqual(msa(ack).slice(1, 3), ['AA', controlId]);

    const byObx = async (obx: string): Promise<Observation> => {
      const [observation] = await search<Observation>(fhir, 'Observation', {
        identifier: resultIdentifier(FACILITY, controlId, '1', obx),
      });
      assert.ok(observation, `Observation for OBX ${obx} not found`);
      assert.equal(hasAiLabel(observation.meta), false);
      return observation;
    };
    assert.deepEqual((await byObx('1')).valueQuantity, {
      value: 4.1,
      unit: 'mmol/L',
      system: 'http://unitsofmeasure.org',
      code: 'mmol/L',
    });
    assert.equal((await byObx('2')).valueQuantity?.comparator, '<');
    const comment = await byObx('3');
    assert.equal(comment.valueString, 'Hemolysed sample| repeat advised');
    assert.equal(comment.status, 'preliminary');
    assert.equal(
      (await byObx('4')).valueCodeableConcept?.coding?.[0]?.system,
      'http://terminology.hl7.org/CodeSystem/v2-0136'
    );
    assert.equal((await byObx('5')).valueDateTime, '2026-03-10');
    const absent = await byObx('6');
    assert.equal(absent.dataAbsentReason?.coding?.[0]?.code, 'not-performed');
    assert.equal(absent.note?.[0]?.text, 'Not measured: sample insufficient.');

    const [report] = await search<DiagnosticReport>(fhir, 'DiagnosticReport', {
      identifier: resultIdentifier(FACILITY, controlId, '1'),
    });
    assert.equal(report?.status, 'preliminary');
    assert.equal(report.result?.length, 6);
    assert.equal(hasAiLabel(report.meta), false);
  });

  void it('rejects an empty MSH-9 and stores the reason', async () => {
    const controlId = nextControlId();
    const ack = await connection().send(
      loadFixture('oru-r01-empty-msh9.hl7', { CONTROL_ID: controlId, PATIENT_ID: patientId })
    );
    assert.deepEqual(msa(ack).slice(1, 3), ['AR', controlId]);
    const err = ackSegments(ack, 'ERR')[0];
    assert.equal(err?.[2], 'MSH^1^9');
    assert.equal(err[3], '101^Required field missing^HL70357');
    assert.equal(err[4], 'E');

    const stored = await readMessage(messages, controlId);
    assert.equal(stored?.status, 'rejected');
    assert.equal(stored.ackCode, 'AR');
    assert.match(stored.reason ?? '', /MSH-9/);
    assert.equal(stored.errors?.[0]?.errorCode, '101');
  });

  void it('rejects ADT with code 200 and stores it', async () => {
    const controlId = nextControlId();
    const ack = await connection().send(
      loadFixture('adt-a01.hl7', { CONTROL_ID: controlId, PATIENT_ID: patientId })
    );
    assert.deepEqual(msa(ack).slice(1, 3), ['AR', controlId]);
    assert.equal(ackSegments(ack, 'MSH')[0]?.[8], 'ACK^A01^ACK');
    assert.equal(ackSegments(ack, 'ERR')[0]?.[3], '200^Unsupported message type^HL70357');

    const stored = await readMessage(messages, controlId);
    assert.equal(stored?.status, 'rejected');
    assert.equal(stored.messageType, 'ADT^A01');
  });

  void it('answers AE at PID-3 for an unknown patient', async () => {
    const controlId = nextControlId();
    const ack = await connection().send(
      loadFixture('oru-r01-sepsis-ai.hl7', { CONTROL_ID: controlId, PATIENT_ID: `UNKNOWN-${suffix}` })
    );
    assert.deepEqual(msa(ack).slice(1, 3), ['AE', controlId]);
    const err = ackSegments(ack, 'ERR')[0];
    assert.equal(err?.[2], 'PID^1^3');
    assert.match(err[8] ?? '', /[Pp]atient not found/);
    assert.equal(
      (
        await search<Observation>(fhir, 'Observation', {
          identifier: resultIdentifier(FACILITY, controlId, '1', '1'),
        })
      ).length,
      0
    );
    assert.equal((await readMessage(messages, controlId))?.status, 'failed');
  });

  void it('rejects an oversized frame and keeps the connection', async () => {
    const controlId = nextControlId();
    const big = `${loadFixture('oru-r01-sepsis-ai.hl7', { CONTROL_ID: controlId, PATIENT_ID: patientId })}NTE|2|L|${'x'.repeat(10_000)}\r`;
    const ack = await connection().send(big);
    assert.deepEqual(msa(ack).slice(1, 3), ['AR', controlId]);
    assert.match(ackSegments(ack, 'ERR')[0]?.[8] ?? '', /exceeds the maximum size of 8192 bytes/);
    const stored = await readMessage(messages, controlId);
    assert.equal(stored?.truncated, true);
    assert.equal(stored.byteLength, Buffer.byteLength(big));

    const next = await connection().send(
      loadFixture('adt-a01.hl7', { CONTROL_ID: nextControlId(), PATIENT_ID: patientId })
    );
    assert.equal(msa(next)[1], 'AR');
  });

  void it('creates a missing patient when enabled', async () => {
    const creating = await startListener({
      config: { mllpPort: 0, createMissingPatients: true },
      mongo: database(),
      logger,
    });
    const other = await TestMllpClient.connect(creating.port);
    try {
      const newPatientId = `NEW-${suffix}`;
      const controlId = nextControlId();
      const ack = await other.send(
        loadFixture('oru-r01-sepsis-ai.hl7', { CONTROL_ID: controlId, PATIENT_ID: newPatientId })
      );
      assert.equal(msa(ack)[1], 'AA');
      const patients = await search<Patient>(fhir, 'Patient', {
        identifier: `${TEST_MRN_SYSTEM}|${newPatientId}`,
      });
      assert.equal(patients.length, 1);
      assert.equal(patients[0]?.gender, 'female');
      assert.equal(patients[0].birthDate, '1970-01-01');
      assert.deepEqual(patients[0].name, [{ family: 'Synthetic', given: ['Patient'] }]);
    } finally {
      other.close();
      await creating.close();
      await creating.close();
    }
  });

  void it('answers AE when MongoDB is down', async () => {
    const ownMongo = await requireMongo();
    const unstored = await startListener({ config: { mllpPort: 0 }, mongo: ownMongo, logger });
    const other = await TestMllpClient.connect(unstored.port);
    try {
      await ownMongo.client.close();
      const ack = await other.send(
        loadFixture('oru-r01-sepsis-ai.hl7', { CONTROL_ID: nextControlId(), PATIENT_ID: patientId })
      );
      assert.equal(msa(ack)[1], 'AE');
      assert.match(ackSegments(ack, 'ERR')[0]?.[8] ?? '', /could not be stored/);
    } finally {
      other.close();
      await unstored.close();
    }
  });
});
