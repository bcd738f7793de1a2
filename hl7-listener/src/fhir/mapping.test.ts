import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Device, DiagnosticReport, Observation, Provenance } from '@medplum/fhirtypes';
import {
  AI_CONFIDENCE_EXTENSION,
  MODEL_CARD_EXTENSION,
  hasAiLabel,
  loadModelCatalog,
  modelCardQuery,
  modelDeviceQuery,
} from '@monitormed/common';
import { Hl7ProcessingError } from '../hl7/hl7-error.js';
import { parseMessage } from '../hl7/message.js';
import type { Hl7Segment } from '../hl7/segment.js';
import { labelAiObservation, matchModel } from './ai.js';
import { codingSystemUri } from './code-systems.js';
import { mapObservationValue } from './observation-value.js';
import { buildMinimalPatient, readPatientIdentity } from './patient.js';
import { groupResults } from './result-groups.js';
import { buildResultTransaction, type PatientLink } from './transaction.js';

const models = loadModelCatalog();
const MSH = 'MSH|^~\\&|SEPSISAI|HOSP|MM|MMFAC|20260314||ORU^R01|CTRL|P|2.5.1';
const noSystems = { patientIdentifierSystems: {}, defaultPatientIdentifierSystem: undefined };

function segment(text: string, name: string): Hl7Segment {
  const found = parseMessage(`${MSH}\r${text}`).segments.find((s) => s.name === name);
  assert.ok(found, `segment ${name} not parsed`);
  return found;
}

function obxValue(type: string, value: string, units = ''): ReturnType<typeof mapObservationValue> {
  return mapObservationValue(segment(`OBX|1|${type}|X^Test^L||${value}|${units}|||||F`, 'OBX'), {
    facilityTimeZone: 'UTC',
  });
}

void describe('mapObservationValue', () => {
  void it('maps NM with UCUM and local units', () => {
    assert.deepEqual(obxValue('NM', '4.1', 'mmol/L^millimole per liter^UCUM'), {
      valueQuantity: {
        value: 4.1,
        unit: 'millimole per liter',
        system: 'http://unitsofmeasure.org',
        code: 'mmol/L',
      },
    });
    assert.deepEqual(obxValue('NM', '-2', 'U/L^^L'), { valueQuantity: { value: -2, unit: 'U/L' } });
  });

  void it('maps SN comparator, range, ratio and categorical plus', () => {
    assert.deepEqual(obxValue('SN', '>^100'), { valueQuantity: { value: 100, comparator: '>' } });
    assert.deepEqual(obxValue('SN', '^10^-^20', 'mg^^UCUM').valueRange, {
      low: { value: 10, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' },
      high: { value: 20, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' },
    });
    assert.deepEqual(obxValue('SN', '^1^:^128').valueRatio, {
      numerator: { value: 1 },
      denominator: { value: 128 },
    });
    // The IG maps the categorical `2+` (a grade, not "2 or more") to valueString.
    assert.deepEqual(obxValue('SN', '^2^+'), { valueString: '2+' });
    assert.deepEqual(obxValue('SN', '^39'), { valueQuantity: { value: 39 } });
  });

  void it('maps text types, joining TX repetitions as lines', () => {
    assert.equal(obxValue('TX', 'line one~line two \\T\\ more').valueString, 'line one\nline two & more');
    assert.equal(obxValue('FT', 'a\\.br\\b').valueString, 'a\nb');
    assert.deepEqual(obxValue('ST', 'plain text'), { valueString: 'plain text' });
  });

  void it('maps coded values with alternate codes', () => {
    assert.deepEqual(obxValue('CWE', '260373001^Detected^SCT^DET^Detected^L'), {
      valueCodeableConcept: {
        coding: [
          { system: 'http://snomed.info/sct', code: '260373001', display: 'Detected' },
          { code: 'DET', display: 'Detected' },
        ],
        text: 'Detected',
      },
    });
  });

  void it('maps dates and empty values', () => {
    assert.deepEqual(obxValue('DT', '20260310'), { valueDateTime: '2026-03-10' });
    assert.deepEqual(obxValue('TS', '202603101200+0200'), { valueDateTime: '2026-03-10T12:00:00+02:00' });
    assert.equal(obxValue('NM', '').dataAbsentReason?.coding?.[0]?.code, 'unknown');
  });

  void it('rejects a malformed number with ERR 102 at OBX-5', () => {
    assert.throws(
      () => obxValue('NM', '4,1'),
      (err: unknown) =>
        err instanceof Hl7ProcessingError && err.issue.errorCode === '102' && err.issue.location?.field === 5
    );
  });
});

void describe('readPatientIdentity', () => {
  void it('uses a URI universal id as system', () => {
    const identity = readPatientIdentity(
      segment('PID|1||42^^^X&https://example.org/mrn&URI^MR', 'PID'),
      noSystems
    );
    assert.equal(identity.identifier.system, 'https://example.org/mrn');
    assert.equal(identity.identifier.value, '42');
  });

  void it('prefers MR and maps ISO OIDs', () => {
    const identity = readPatientIdentity(
      segment('PID|1||7^^^A&1.2.3&ISO^PI~42^^^B&2.16.840.1&ISO^MR', 'PID'),
      noSystems
    );
    assert.deepEqual(identity.identifier.system, 'urn:oid:2.16.840.1');
    assert.equal(identity.identifier.value, '42');
  });

  void it('maps a namespace through the table', () => {
    const identity = readPatientIdentity(segment('PID|1||42^^^HOSP^MR||||19700101|M', 'PID'), {
      patientIdentifierSystems: { HOSP: 'urn:oid:1.2.3.4' },
      defaultPatientIdentifierSystem: undefined,
    });
    assert.equal(identity.identifier.system, 'urn:oid:1.2.3.4');
    assert.equal(identity.gender, 'male');
  });

  void it('falls back to PID-2 when PID-3 is empty', () => {
    const identity = readPatientIdentity(segment('PID|1|99^^^^PI', 'PID'), {
      patientIdentifierSystems: {},
      defaultPatientIdentifierSystem: 'urn:example:default',
    });
    assert.equal(identity.identifier.value, '99');
  });

  void it('rejects an identifier without authority', () => {
    assert.throws(
      () => readPatientIdentity(segment('PID|1||42', 'PID'), noSystems),
      (err: unknown) =>
        err instanceof Hl7ProcessingError && err.issue.ackCode === 'AE' && err.issue.location?.field === 3
    );
  });
});

void describe('AI labelling', () => {
  const sepsis = models.find((model) => model.modelId === 'sepsis-risk');
  assert.ok(sepsis);

  void it('matches models by sending application and code', () => {
    assert.equal(matchModel(models, 'SEPSISAI', 'MM-SEPSIS-RISK')?.modelId, 'sepsis-risk');
    assert.equal(matchModel(models, 'LABSYS', 'MM-SEPSIS-RISK'), undefined);
    assert.equal(matchModel(models, 'SEPSISAI', '2823-3'), undefined);
  });

  void it('labels a negative result with its confidence', () => {
    const base: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      valueQuantity: { value: 0.1 },
    };
    const labelled = labelAiObservation(base, sepsis, { reference: 'urn:uuid:d' }, 1);
    assert.ok(hasAiLabel(labelled.meta));
    assert.equal(labelled.interpretation?.[0]?.coding?.[0]?.code, 'NEG');
    assert.equal(labelled.extension?.find((e) => e.url === AI_CONFIDENCE_EXTENSION)?.valueDecimal, 0.9);
    assert.deepEqual(labelled.valueQuantity, {
      value: 0.1,
      unit: '1',
      system: 'http://unitsofmeasure.org',
      code: '1',
    });
  });

  void it('rejects a score outside 0 to 1', () => {
    const base: Observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      valueQuantity: { value: 82 },
    };
    assert.throws(
      () => labelAiObservation(base, sepsis, { reference: 'urn:uuid:d' }, 3),
      (err: unknown) => err instanceof Hl7ProcessingError && err.issue.location?.segmentSequence === 3
    );
  });
});

void describe('buildResultTransaction', () => {
  const text = [
    MSH,
    'PID|1||42^^^X&https://example.org/mrn&URI^MR',
    'OBR|1||F1|MM-SEPSIS-PANEL^Sepsis^L|||202603140930||||||||||||||||||F',
    'OBX|1|NM|MM-SEPSIS-RISK^Sepsis risk^L||0.3|1^^UCUM|||||F',
    'OBX|1|NM|8867-4^Heart rate^LN||88|/min^^UCUM|||||F',
  ].join('\r');

  function build(nonAiResults: 'pass' | 'ignore'): ReturnType<typeof buildResultTransaction> {
    const message = parseMessage(text);
    const groups = groupResults(message.segments);
    const link: PatientLink = {
      reference: { reference: 'Patient?identifier=https%3A%2F%2Fexample.org%2Fmrn|42' },
    };
    const pid = groups[0]?.pid;
    assert.ok(pid);
    return buildResultTransaction({
      message,
      groups,
      patients: new Map([[pid, link]]),
      models,
      nonAiResults,
      facilityTimeZone: 'UTC',
      recordedAt: new Date('2026-03-14T10:00:00Z'),
    });
  }

  void it('builds device, observations, report and provenance', () => {
    const plan = build('pass');
    // The catalog model has a model card, which comes first and which the Device points at.
    const [cardEntry, ...entries] = plan.bundle.entry ?? [];
    assert.equal(cardEntry?.resource?.resourceType, 'DocumentReference');
    assert.equal(
      cardEntry.request?.ifNoneExist,
      modelCardQuery({ modelId: 'sepsis-risk', version: '2.1.0' })
    );
    assert.equal(
      (entries[0]?.resource as Device).extension?.find((extension) => extension.url === MODEL_CARD_EXTENSION)
        ?.valueReference?.reference,
      cardEntry.fullUrl
    );
    assert.deepEqual(
      entries.map((entry) => `${entry.request?.method ?? ''} ${entry.resource?.resourceType ?? ''}`),
      ['POST Device', 'POST Observation', 'POST Observation', 'POST DiagnosticReport', 'PUT Provenance']
    );
    assert.equal(entries[0]?.request?.ifNoneExist, modelDeviceQuery('sepsis-risk'));
    // Duplicate OBX-1 set ids fall back to positions so both results keep distinct identifiers.
    assert.equal(
      entries[1]?.request?.ifNoneExist,
      'identifier=https%3A%2F%2Fmonitormed.dev%2Ffhir%2Fsid%2Fhl7v2-result|HOSP%5C%7CCTRL%5C%7C1%5C%7C1'
    );
    assert.equal((entries[2]?.resource as Observation).identifier?.[0]?.value, 'HOSP|CTRL|1|2');
    assert.equal(hasAiLabel((entries[2]?.resource as Observation).meta), false);
    const report = entries[3]?.resource as DiagnosticReport;
    assert.ok(hasAiLabel(report.meta));
    assert.equal(report.result?.length, 2);
    const provenance = entries[4]?.resource as Provenance;
    assert.deepEqual(
      provenance.target.map((t) => t.reference),
      [entries[1].fullUrl, entries[3]?.fullUrl]
    );
    assert.equal(provenance.agent[0]?.who.reference, entries[0].fullUrl);
    assert.equal(plan.aiObservationCount, 1);
  });

  void it('skips non-AI results in ignore mode', () => {
    const plan = build('ignore');
    assert.equal(plan.observationCount, 1);
    assert.equal(plan.skippedNonAiCount, 1);
    assert.equal(
      (plan.bundle.entry ?? []).filter((entry) => entry.resource?.resourceType === 'Observation').length,
      1
    );
  });
});

void describe('buildMinimalPatient', () => {
  void it('maps identifiers, names, birth date and sex', () => {
    const identity = readPatientIdentity(
      segment(
        'PID|1||7^^^A&1.2.3&ISO^PI~42^^^B&2.16.840.1&ISO^MR||Doe^Jane^Q^Jr^Dr^^L~Roe^Jane^^^^^M||19700315|F',
        'PID'
      ),
      noSystems
    );
    const patient = buildMinimalPatient(identity, 'UTC');
    assert.deepEqual(
      patient.identifier?.map((identifier) => `${identifier.system ?? ''}|${identifier.value ?? ''}`),
      ['urn:oid:2.16.840.1|42', 'urn:oid:1.2.3|7']
    );
    assert.deepEqual(patient.name, [
      { use: 'official', family: 'Doe', given: ['Jane', 'Q'], prefix: ['Dr'], suffix: ['Jr'] },
      { use: 'maiden', family: 'Roe', given: ['Jane'] },
    ]);
    assert.equal(patient.birthDate, '1970-03-15');
    assert.equal(patient.gender, 'female');
  });

  void it('keeps a partial birth date and maps table 0001', () => {
    const cases: [string, string, string][] = [
      ['1970', 'A', 'other'],
      ['197003', 'N', 'other'],
      ['197003151230', 'U', 'unknown'],
    ];
    const expectedDates = ['1970', '1970-03', '1970-03-15'];
    cases.forEach(([birth, sex, gender], index) => {
      const identity = readPatientIdentity(
        segment(`PID|1||42^^^X&urn:example:mrn&URI^MR||Doe^Jane||${birth}|${sex}`, 'PID'),
        noSystems
      );
      const patient = buildMinimalPatient(identity, 'UTC');
      assert.equal(patient.birthDate, expectedDates[index]);
      assert.equal(patient.gender, gender);
    });
  });

  void it('rejects a malformed birth date at PID-7', () => {
    const identity = readPatientIdentity(
      segment('PID|1||42^^^X&urn:example:mrn&URI^MR||Doe^Jane||1970-03-15', 'PID'),
      noSystems
    );
    assert.throws(
      () => buildMinimalPatient(identity, 'UTC'),
      (err: unknown) =>
        err instanceof Hl7ProcessingError &&
        err.issue.location?.segmentSequence === 1 &&
        err.issue.location.field === 7
    );
  });

  void it('names the PID occurrence of a missing identifier', () => {
    const message = parseMessage(`${MSH}\rPID|1||42^^^X&urn:example:mrn&URI^MR\rPID|2`);
    const second = message.segments.find((s) => s.name === 'PID' && s.occurrence === 2);
    assert.ok(second);
    assert.throws(
      () => readPatientIdentity(second, noSystems),
      (err: unknown) =>
        err instanceof Hl7ProcessingError &&
        err.issue.location?.segmentSequence === 2 &&
        err.issue.location.field === 3
    );
  });
});

void describe('codingSystemUri', () => {
  void it('maps table 0396 names and HL7 tables', () => {
    assert.equal(codingSystemUri('LN'), 'http://loinc.org');
    assert.equal(codingSystemUri('sct'), 'http://snomed.info/sct');
    assert.equal(codingSystemUri('NDC'), 'http://hl7.org/fhir/sid/ndc');
    assert.equal(codingSystemUri('HL70078'), 'http://terminology.hl7.org/CodeSystem/v2-0078');
  });

  void it('gives local systems no URI', () => {
    assert.equal(codingSystemUri('L'), undefined);
    assert.equal(codingSystemUri('99LAB'), undefined);
  });
});

void describe('matchModel by equipment', () => {
  void it('matches OBX-18 equipment ids', () => {
    const sepsis = models.find((model) => model.modelId === 'sepsis-risk');
    assert.ok(sepsis);
    const byEquipment = { ...sepsis, modelId: 'by-equipment', match: { equipmentIds: ['AI-BOX-1'] } };
    assert.equal(matchModel([byEquipment], 'ANY', 'ANY', 'AI-BOX-1')?.modelId, 'by-equipment');
    assert.equal(matchModel([byEquipment], 'ANY', 'ANY', 'AI-BOX-2'), undefined);
    assert.equal(matchModel([byEquipment], 'ANY', 'ANY'), undefined);
  });
});
