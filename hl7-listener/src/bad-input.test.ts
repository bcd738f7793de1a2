/**
 * Real-world bad input for parsing and mapping: each case must get the right reply, an
 * accepted message with the right resource or an AE/AR naming the field. The unit cases run on the
 * transaction that the mapping builds; the last suite sends messages over MLLP into HAPI and MongoDB.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Bundle, DiagnosticReport, Observation, Patient } from '@medplum/fhirtypes';
import { createLogger, type FhirClient, type MongoHandle } from '@monitormed/common';
import { buildResultTransaction } from './fhir/transaction.js';
import { groupResults } from './fhir/result-groups.js';
import { HL7V2_ASSUMED_TIME_ZONE_EXTENSION } from './fhir/extensions.js';
import { decodeMessageBytes } from './hl7/charset.js';
import { decodeEscapes, encodeEscapes } from './hl7/escape.js';
import { Hl7ProcessingError, type Hl7Issue } from './hl7/hl7-error.js';
import { parseMessage } from './hl7/message.js';
import { startListener, type ListenerHandle } from './index.js';
import { CARRIAGE_RETURN, END_BLOCK, START_BLOCK } from './mllp/framing.js';
import { FACILITY, TEST_MRN_SYSTEM, resultIdentifier, search } from './test-support/fhir.js';
import { TestMllpClient, ackSegments } from './test-support/mllp-client.js';
import { requireFhir, requireMongo, runSuffix } from './test-support/peers.js';

const MSH = 'MSH|^~\\&|LABSYS|HOSP|MM|MMFAC|20260314101500||ORU^R01|CTRL-1|P|2.5.1';
const PID = 'PID|1||42^^^X&urn:example:mrn&URI^MR';
const OBR_LINE = `OBR|1||F1|24323-8^Panel^LN|||20260314100000+0000${'|'.repeat(18)}F`;

/** Maps a message text to its transaction Bundle, with no model catalog and a fixed patient link. */
function transaction(text: string, facilityTimeZone = 'UTC'): Bundle {
  const message = parseMessage(text);
  const groups = groupResults(message.segments);
  return buildResultTransaction({
    message,
    groups,
    patients: new Map(groups.map((group) => [group.pid, { reference: { reference: 'Patient/1' } }])),
    models: [],
    nonAiResults: 'pass',
    facilityTimeZone,
    recordedAt: new Date('2026-03-14T10:00:00Z'),
  }).bundle;
}

function observations(bundle: Bundle): Observation[] {
  return (bundle.entry ?? []).flatMap((entry) =>
    entry.resource?.resourceType === 'Observation' ? [entry.resource] : []
  );
}

function firstObservation(text: string, facilityTimeZone = 'UTC'): Observation {
  const [observation] = observations(transaction(text, facilityTimeZone));
  assert.ok(observation, 'the transaction has no Observation');
  return observation;
}

function oru(...results: string[]): string {
  return [MSH, PID, OBR_LINE, ...results].join('\r');
}

/** Runs `run` and returns the issue of the Hl7ProcessingError it throws. */
function issueOf(run: () => unknown): Hl7Issue {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof Hl7ProcessingError, `expected an Hl7ProcessingError, got ${String(err)}`);
    return err.issue;
  }
  assert.fail('expected the message to be rejected');
}

void describe('bad input: segment terminators', () => {
  const segments = [MSH, PID, OBR_LINE, 'OBX|1|NM|2823-3^Potassium^LN||4.1|mmol/L^^UCUM|||||F'];
  const reference = transaction(segments.join('\r'));

  void it('LF-only terminators map like CR', () => {
    assert.deepEqual(observations(transaction(segments.join('\n'))), observations(reference));
  });

  void it('trailing CRLF terminators map like CR', () => {
    assert.deepEqual(observations(transaction(`${segments.join('\r\n')}\r\n`)), observations(reference));
  });

  void it('mixed terminators map like CR', () => {
    const mixed = `${MSH}\r\n${PID}\n${OBR_LINE}\r${segments[3] ?? ''}\n\r`;
    assert.deepEqual(observations(transaction(mixed)), observations(reference));
  });

  void it('stray CR inside a field becomes a line break', () => {
    const observation = firstObservation(oru('OBX|1|TX|8251-1^Comment^LN||first line\rsecond line||||||F'));
    assert.equal(observation.valueString, 'first line\nsecond line');
    assert.equal(observation.status, 'final', 'fields after the stray CR stay in place');
  });

  void it('indented segment is rejected, not merged', () => {
    const issue = issueOf(() =>
      transaction(oru('OBX|1|TX|8251-1^Comment^LN||text||||||F', ' PID|2||43^^^X&urn:example:mrn&URI^MR'))
    );
    assert.equal(issue.ackCode, 'AR');
    assert.equal(issue.errorCode, '100');
  });

  void it('stray line after OBR is rejected, not merged', () => {
    const issue = issueOf(() => transaction([MSH, PID, OBR_LINE, 'continued|text'].join('\r')));
    assert.equal(issue.ackCode, 'AR');
    assert.equal(issue.errorCode, '100');
  });

  void it('stray CR inside a number is answered AE at OBX-5', () => {
    const issue = issueOf(() => transaction(oru('OBX|1|NM|2823-3^Potassium^LN||4\r1|mmol/L^^UCUM|||||F')));
    assert.equal(issue.ackCode, 'AE');
    assert.deepEqual(issue.location, { segment: 'OBX', segmentSequence: 1, field: 5 });
  });
});

void describe('bad input: MSH', () => {
  void it('invalid MSH-2 is answered AR at MSH-2', () => {
    for (const msh2 of ['^^\\&', '^~a&', '^~\\&#!']) {
      const issue = issueOf(() => parseMessage(`MSH|${msh2}|A|B|C|D|20260314||ORU^R01|1|P|2.5.1\rPID|1`));
      assert.equal(issue.ackCode, 'AR', `MSH-2 ${msh2}`);
      assert.equal(issue.errorCode, '102');
      assert.deepEqual(issue.location, { segment: 'MSH', segmentSequence: 1, field: 2 });
    }
  });

  void it('short MSH-2 is answered AR at MSH-2', () => {
    for (const msh2 of ['^~\\', '^', '']) {
      const issue = issueOf(() => parseMessage(`MSH|${msh2}|A|B|C|D|20260314||ORU^R01|1|P|2.5.1`));
      assert.equal(issue.ackCode, 'AR', `MSH-2 "${msh2}"`);
      assert.deepEqual(issue.location, { segment: 'MSH', segmentSequence: 1, field: 2 });
      assert.match(issue.text, /MSH-2 must contain 4 or 5 encoding characters/);
    }
  });

  void it('empty MSH-9 is answered AR at MSH-9', () => {
    const issue = issueOf(() => parseMessage('MSH|^~\\&|A|B|C|D|20260314|||1|P|2.5.1'));
    assert.equal(issue.ackCode, 'AR');
    assert.equal(issue.errorCode, '101');
    assert.deepEqual(issue.location, { segment: 'MSH', segmentSequence: 1, field: 9 });
  });

  void it('odd MSH-12 versions are accepted', () => {
    const cases: [string, string][] = [
      ['2.1', '2.1'],
      ['2.3.1', '2.3.1'],
      ['2.5.1', '2.5.1'],
      ['2.8.2', '2.8.2'],
      ['2.4^USA', '2.4'],
      ['25', '2.5'],
      ['251', '2.5.1'],
    ];
    for (const [field, version] of cases) {
      const message = parseMessage(`MSH|^~\\&|A|B|C|D|20260314||ORU^R01|1|P|${field}`);
      assert.equal(message.header.version, version, `MSH-12 ${field}`);
    }
  });

  void it('unsupported or empty MSH-12 is answered AR', () => {
    for (const [field, errorCode] of [
      ['3.0', '203'],
      ['2.9', '203'],
      ['2.0', '203'],
      ['v2', '203'],
      ['', '101'],
    ]) {
      const issue = issueOf(() => parseMessage(`MSH|^~\\&|A|B|C|D|20260314||ORU^R01|1|P|${field ?? ''}`));
      assert.equal(issue.ackCode, 'AR', `MSH-12 "${field ?? ''}"`);
      assert.equal(issue.errorCode, errorCode);
      assert.deepEqual(issue.location, { segment: 'MSH', segmentSequence: 1, field: 12 });
    }
  });

  void it('custom field separator and truncation character', () => {
    const text = [
      'MSH#$*@%!#LABSYS#HOSP#MM#MMFAC#20260314101500##ORU$R01#CTRL-1#P#2.7',
      'PID#1##42$$$X%urn:example:mrn%URI$MR',
      `OBR#1##F1#24323-8$Panel$LN###20260314100000+0000${'#'.repeat(18)}F`,
      'OBX#1#ST#8251-1$Comment$LN##a|b^c&d @F@ @S@ e*f######F',
    ].join('\r');
    const message = parseMessage(text);
    assert.equal(message.declaredEncoding.truncation, '!');
    assert.equal(message.header.version, '2.7');
    assert.equal(firstObservation(text).valueString, 'a|b^c&d # $ e\nf');
  });
});

void describe('bad input: escapes and text', () => {
  void it('lone backslash is kept as text', () => {
    assert.equal(
      firstObservation(oru('OBX|1|ST|8251-1^Comment^LN||C:\\temp||||||F')).valueString,
      'C:\\temp'
    );
  });

  void it('back-to-back hex escapes round-trip', () => {
    assert.equal(decodeEscapes('caf\\XC3\\\\XA9\\'), 'café');
    assert.equal(decodeEscapes('\\X41\\\\X42\\\\X43\\'), 'ABC');
    assert.equal(decodeEscapes('a\\X0D\\\\X0A\\b'), 'a\r\nb');
    const text = 'a\r\nb | c';
    assert.equal(decodeEscapes(encodeEscapes(text)), text);
    const observation = firstObservation(oru('OBX|1|ST|8251-1^Comment^LN||Cr\\XC3\\\\XA8\\me||||||F'));
    assert.equal(observation.valueString, 'Crème');
  });

  void it('.br in NTE becomes a line break', () => {
    const observation = firstObservation(
      oru('OBX|1|NM|2823-3^Potassium^LN||4.1|mmol/L^^UCUM|||||F', 'NTE|1|L|first\\.br\\second~third')
    );
    assert.deepEqual(observation.note, [{ text: 'first\nsecond\nthird' }]);
  });

  void it('unescaped & and ^ inside FT are text', () => {
    const observation = firstObservation(
      oru('OBX|1|FT|8251-1^Comment^LN||salt & pepper ^ more||||||F', 'NTE|1|L|fish & chips ^ peas')
    );
    assert.equal(observation.valueString, 'salt & pepper ^ more');
    assert.equal(observation.note?.[0]?.text, 'fish & chips ^ peas');
  });

  void it('accented text under 8859/1 is decoded', () => {
    const text = [
      MSH.replace('|2.5.1', '|2.5.1|||||||8859/1'),
      PID,
      OBR_LINE,
      'OBX|1|ST|8251-1^Comment^LN||Hémolyse légère, à refaire||||||F',
    ].join('\r');
    const decoded = decodeMessageBytes(Buffer.from(text, 'latin1'));
    assert.equal(decoded.issue, undefined);
    assert.equal(firstObservation(decoded.text).valueString, 'Hémolyse légère, à refaire');
  });

  void it('Z-segments are kept but not mapped', () => {
    const message = parseMessage(oru('OBX|1|NM|2823-3^Potassium^LN||4.1|mmol/L^^UCUM|||||F', 'ZLR|1|local'));
    assert.ok(message.segments.some((segment) => segment.name === 'ZLR'));
    assert.equal(observations(transaction(oru('OBX|1|NM|X^x^L||1||||||F', 'ZLR|1|local'))).length, 1);
  });
});

void describe('bad input: values', () => {
  void it('OBX-2 disagreeing with OBX-5 is answered AE at OBX-5', () => {
    const issue = issueOf(() => transaction(oru('OBX|1|NM|2823-3^Potassium^LN||positive||||||F')));
    assert.equal(issue.ackCode, 'AE');
    assert.equal(issue.errorCode, '102');
    assert.deepEqual(issue.location, { segment: 'OBX', segmentSequence: 1, field: 5 });
    assert.match(issue.text, /OBX-5 does not match OBX-2 value type NM/);
    assert.doesNotMatch(issue.text, /positive/, 'the ERR text must not echo the value');
  });

  void it('OBX-2 error names the right OBX', () => {
    const issue = issueOf(() =>
      transaction(oru('OBX|1|NM|A^a^L||1||||||F', 'OBX|2|DT|B^b^L||yesterday||||||F'))
    );
    assert.deepEqual(issue.location, { segment: 'OBX', segmentSequence: 2, field: 5 });
  });

  void it('empty OBX-5 gets a data absent reason', () => {
    const observation = firstObservation(oru('OBX|1|NM|2345-7^Glucose^LN||||||||X'));
    assert.equal(observation.valueQuantity, undefined);
    assert.equal(observation.dataAbsentReason?.coding?.[0]?.code, 'not-performed');
    assert.equal(observation.status, 'cancelled');
  });

  void it('NM with leading zeros is read as a number', () => {
    assert.equal(firstObservation(oru('OBX|1|NM|X^x^L||007||||||F')).valueQuantity?.value, 7);
    assert.equal(firstObservation(oru('OBX|1|NM|X^x^L||-00.50||||||F')).valueQuantity?.value, -0.5);
  });

  void it('timestamps without offset take the facility zone', () => {
    const text = [
      MSH,
      PID,
      `OBR|1||F1|24323-8^Panel^LN|||202607141000${'|'.repeat(18)}F`,
      'OBX|1|NM|X^x^L||1||||||F',
      'OBX|2|NM|Y^y^L||2||||||F|||202607141005',
    ].join('\r');
    const [fromObr, fromObx] = observations(transaction(text, 'Europe/Paris'));
    assert.equal(fromObr?.effectiveDateTime, '2026-07-14T10:00:00+02:00');
    assert.equal(fromObx?.effectiveDateTime, '2026-07-14T10:05:00+02:00');
    for (const observation of [fromObr, fromObx]) {
      assert.ok(observation, 'the transaction has fewer than two Observations');
      const extension = observation.extension?.find((e) => e.url === HL7V2_ASSUMED_TIME_ZONE_EXTENSION);
      assert.deepEqual(extension?.extension, [
        { url: 'element', valueString: 'effectiveDateTime' },
        { url: 'timeZone', valueString: 'Europe/Paris' },
      ]);
    }
  });
});

void describe('bad input over MLLP into HAPI', () => {
  const suffix = runSuffix();
  const patientId = `BAD${suffix}`;
  let fhir: FhirClient;
  let mongo: MongoHandle | undefined;
  let listener: ListenerHandle | undefined;
  let client: TestMllpClient | undefined;
  let patient: Patient;
  let sequence = 0;

  function message(...results: string[]): { controlId: string; text: string } {
    sequence += 1;
    const controlId = `B${suffix}-${String(sequence)}`;
    const text = [
      `MSH|^~\\&|LABSYS|${FACILITY}|MM|MMFAC|20260314101500||ORU^R01|${controlId}|P|2.5.1|||||||8859/1`,
      `PID|1||${patientId}^^^MMDEMO&${TEST_MRN_SYSTEM}&URI^MR`,
      OBR_LINE,
      ...results,
    ].join('\r');
    return { controlId, text };
  }

  before(async () => {
    fhir = await requireFhir();
    mongo = await requireMongo();
    patient = (await fhir.create({
      resourceType: 'Patient',
      body: { resourceType: 'Patient', identifier: [{ system: TEST_MRN_SYSTEM, value: patientId }] },
    })) as unknown as Patient;
    listener = await startListener({
      config: { mllpPort: 0, createMissingPatients: false },
      mongo,
      models: [],
      logger: createLogger('hl7-listener-bad-input-test', 'silent'),
    });
    client = await TestMllpClient.connect(listener.port);
  });

  after(async () => {
    client?.close();
    await listener?.close();
    await mongo?.db.dropDatabase();
    await mongo?.client.close();
  });

  const send = async (text: string, latin1 = false): Promise<string> => {
    assert.ok(client, 'listener did not start');
    if (!latin1) {
      return client.send(text);
    }
    const frame = Buffer.concat([
      Buffer.from([START_BLOCK]),
      Buffer.from(text, 'latin1'),
      Buffer.from([END_BLOCK, CARRIAGE_RETURN]),
    ]);
    await client.writeRaw(frame);
    return client.nextReply();
  };

  void it('accented 8859/1 text and a stray CR land in HAPI', async () => {
    const { controlId, text } = message('OBX|1|TX|8251-1^Comment^LN||Hémolyse\rlégère||||||F');
    const ack = await send(text, true);
    assert.equal(ackSegments(ack, 'MSA')[0]?.[1], 'AA', ack);

    const [observation] = await search<Observation>(fhir, 'Observation', {
      identifier: resultIdentifier(FACILITY, controlId, '1', '1'),
    });
    assert.ok(observation, 'Observation not found by its HL7 result identifier');
    assert.equal(observation.valueString, 'Hémolyse\nlégère');
    assert.equal(observation.subject?.reference, `Patient/${patient.id ?? ''}`);
    const [report] = await search<DiagnosticReport>(fhir, 'DiagnosticReport', {
      identifier: resultIdentifier(FACILITY, controlId, '1'),
    });
    assert.equal(report?.status, 'final');
  });

  void it('OBX-2 disagreement is answered AE with ERR at OBX-5', async () => {
    const { controlId, text } = message('OBX|1|NM|2823-3^Potassium^LN||positive||||||F');
    const ack = await send(text);
    assert.deepEqual(ackSegments(ack, 'MSA')[0]?.slice(1, 3), ['AE', controlId]);
    const err = ackSegments(ack, 'ERR')[0];
    assert.ok(err, `no ERR segment in ${ack}`);
    assert.equal(err[2], 'OBX^1^5');
    assert.equal(err[3]?.split('^')[0], '102');

    const written = await search<Observation>(fhir, 'Observation', {
      identifier: resultIdentifier(FACILITY, controlId, '1', '1'),
    });
    assert.equal(written.length, 0, 'a rejected message must write nothing');
  });

  void it('ED result lands as a DocumentReference', async () => {
    const { controlId, text } = message('OBX|1|ED|11502-2^Report^LN||^AP^PDF^Base64^JVBERi0xLjQ=||||||F');
    const ack = await send(text);
    assert.equal(ackSegments(ack, 'MSA')[0]?.[1], 'AA', ack);
    const [observation] = await search<Observation>(fhir, 'Observation', {
      identifier: resultIdentifier(FACILITY, controlId, '1', '1'),
    });
    const documentReference = observation?.derivedFrom?.[0]?.reference ?? '';
    assert.match(documentReference, /^DocumentReference\//);
    const document = await fhir.read({
      resourceType: 'DocumentReference',
      id: documentReference.split('/')[1] ?? '',
    });
    assert.equal(
      (document as { content?: { attachment?: { data?: string } }[] }).content?.[0]?.attachment?.data,
      'JVBERi0xLjQ='
    );
  });
});
