/**
 * End to end over the real stack: ORU^R01 messages in over MLLP, labelled FHIR resources in HAPI, the
 * analyzer's extension, Flag and MongoDB documents, and the listener's ACK to invalid input.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Bundle, Flag, Observation, Patient } from '@medplum/fhirtypes';
import {
  COLLECTIONS,
  FLAG_CODES,
  HL7_RESULT_ID_SYSTEM,
  UNCERTAINTY_EXTENSION,
  hasAiLabel,
} from '@monitormed/common';
import { MessageStore } from '@monitormed/hl7-listener';
import { MllpClient } from '@monitormed/synthea-data';
import { startTestStack, waitFor, type TestStack } from './stack.js';

const MRN_SYSTEM = 'http://hospital.smarthealthit.org';
const SHARED_HL7_DIR = new URL('../../shared/hl7/', import.meta.url);
const FACILITY = 'MONITORMED_E2E';

async function fhirJson<T>(stack: TestStack, path: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(`${stack.config.fhirBaseUrl}/${path}`, {
    ...init,
    headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
  });
  assert.ok(response.ok, `${init.method ?? 'GET'} ${path} failed with HTTP ${response.status}`);
  return (await response.json()) as T;
}

function oruMessage(controlId: string, mrn: string, probability: string): string {
  return [
    `MSH|^~\\&|SEPSISAI|${FACILITY}|MONITORMED|HOSPITAL|20260302101500+0000||ORU^R01^ORU_R01|${controlId}|P|2.5.1`,
    `PID|1||${mrn}^^^Hospital&${MRN_SYSTEM}&URI^MR||Testpatient^Ada||19700101|F`,
    `OBR|1|ORD-${controlId}|FIL-${controlId}|MM-SEPSIS-RISK^Sepsis risk score^L|||20260302101000+0000|||||||||||||||20260302101500+0000||AI|F`,
    `OBX|1|NM|MM-SEPSIS-RISK^Sepsis risk score^L||${probability}|1|||||F|||20260302101000+0000`,
  ].join('\r');
}

void describe('walking skeleton end to end', { timeout: 300_000 }, () => {
  let stack: TestStack;
  let client: MllpClient;

  before(async () => {
    // The public messages name patients that are not in HAPI and some carry no assigning authority.
    stack = await startTestStack({
      createMissingPatients: true,
      defaultPatientIdentifierSystem: 'urn:monitormed:e2e:mrn',
    });
    client = new MllpClient({ host: '127.0.0.1', port: stack.mllpPort, ackTimeoutMs: 60_000 });
    await client.connect();
  });

  after(async () => {
    await client.close();
    await stack.close();
  });

  void it('labels, analyses and flags an AI result', async () => {
    const mrn = `e2e-${randomUUID()}`;
    const patient = await fhirJson<Patient>(stack, 'Patient', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'Patient',
        identifier: [{ system: MRN_SYSTEM, value: mrn }],
        gender: 'female',
      }),
    });
    const controlId = `E2E${stack.runId}`;

    // p = 0.5 is as uncertain as a binary output can be, so the analyzer must raise a Flag.
    const ack = await client.send(oruMessage(controlId, mrn, '0.5000'));
    assert.equal(ack.code, 'AA', ack.raw);
    assert.equal(ack.controlId, controlId);

    const identifier = encodeURIComponent(`${HL7_RESULT_ID_SYSTEM}|${FACILITY}|${controlId}|1|1`);
    const found = await fhirJson<Bundle<Observation>>(stack, `Observation?identifier=${identifier}`);
    assert.equal(found.total, 1);
    const observation = found.entry?.[0]?.resource;
    assert.ok(observation?.id !== undefined);
    assert.ok(hasAiLabel(observation.meta), 'Observation carries the AIAST security label');
    assert.equal(observation.subject?.reference, `Patient/${patient.id ?? ''}`);
    assert.match(observation.device?.reference ?? '', /^Device\//);

    const analysed = await waitFor(
      'the uncertainty extension',
      async () => {
        const current = await fhirJson<Observation>(stack, `Observation/${observation.id ?? ''}`);
        return current.extension?.some((e) => e.url === UNCERTAINTY_EXTENSION) === true ? current : undefined;
      },
      // The first rest-hook delivery after a Subscription is created can take HAPI several seconds.
      90_000
    );
    const uncertainty = analysed.extension?.find((e) => e.url === UNCERTAINTY_EXTENSION);
    const entropy = uncertainty?.extension?.find((e) => e.url === 'value')?.valueDecimal;
    assert.equal(entropy, 1);

    const resultDoc = await waitFor(
      'the analysed result in MongoDB',
      async () =>
        (await stack.mongo.db.collection(COLLECTIONS.aiResults).findOne({ observationId: observation.id })) ??
        undefined
    );
    assert.equal(resultDoc['modelId'], 'sepsis-risk');
    assert.equal(resultDoc['window'], '2026-03-02');

    const metric = await waitFor(
      'the entropy metric in MongoDB',
      async () =>
        (await stack.mongo.db
          .collection(COLLECTIONS.metrics)
          .findOne({ modelId: 'sepsis-risk', metric: 'uncertainty-entropy-mean', window: '2026-03-02' })) ??
        undefined
    );
    assert.ok(typeof metric['value'] === 'number');

    const flag = await waitFor('the high-uncertainty Flag', async () => {
      const flags = await fhirJson<Bundle<Flag>>(stack, `Flag?subject=Patient/${patient.id ?? ''}`);
      return flags.entry
        ?.map((e) => e.resource)
        .find((f) => f?.code.coding?.[0]?.code === FLAG_CODES.highUncertainty.code);
    });
    assert.equal(flag.status, 'active');
  });

  void it('answers AR with ERR for an empty MSH-9 and stores it', async () => {
    const controlId = `E2EBAD${stack.runId}`;
    const message = oruMessage(controlId, 'unused', '0.1').replace('ORU^R01^ORU_R01', '');

    const ack = await client.send(message);
    assert.match(ack.code, /^A[ER]$/);
    assert.match(ack.raw, /\rERR\|/);

    const stored = await stack.mongo.db.collection(COLLECTIONS.hl7Messages).findOne({ controlId });
    assert.ok(stored, 'the rejected message is stored');
    assert.notEqual(stored['status'], 'processed');
  });

  // The folder of public HL7 samples sits beside the checkout in CI. Without it this test is skipped
  // with the reason, because `it.todo` would still run it and report a failure.
  const sharedSkip = existsSync(SHARED_HL7_DIR) ? false : 'no ../shared/hl7 folder beside the checkout';
  void it('stores real ORU messages from the shared folder', { skip: sharedSkip }, async () => {
    // The NIST sample leaves OBR-25 empty, which the mapping rejects by design with the field named.
    const expected = [
      { file: 'v2fhir_oru_r01_v251_lipid_panel.hl7', status: 'processed', reason: undefined },
      { file: 'lfh_oru_r01_v251_nist_cwe_nm.hl7', status: 'failed', reason: /OBR-25/ },
    ];
    for (const { file, status, reason } of expected) {
      const message = readFileSync(new URL(file, SHARED_HL7_DIR), 'latin1').replace(/\r?\n/g, '\r').trim();
      // Both samples request enhanced mode (MSH-15 and MSH-16 AL), so the first reply is the accept ACK.
      const ack = await client.send(message);
      assert.equal(ack.code, 'CA', `${file}: ${ack.raw}`);

      // The listener keeps a processed message's status with its outcome; the store merges the two.
      const store = new MessageStore(stack.mongo.db);
      const stored = await waitFor(`${file} to be processed`, async () => {
        const [view] = await store.findViews({ controlId: ack.controlId });
        return view === undefined || view.status === 'received' || view.status === 'processing'
          ? undefined
          : view;
      });
      assert.equal(stored.status, status, `${file}: ${stored.reason ?? ''}`);
      if (reason !== undefined) {
        assert.match(stored.reason ?? '', reason, file);
      }
    }
  });
});
