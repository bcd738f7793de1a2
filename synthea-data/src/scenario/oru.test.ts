import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadModelCatalog } from '@monitormed/common';
import { buildOruR01, escapeHl7, formatHl7Time } from './oru.js';
import type { PlannedResult } from './plan.js';
import { populationDefaults } from './sepsis-model.js';

const catalog = loadModelCatalog();
const cxr = catalog.find((m) => m.modelId === 'cxr-pneumothorax');
const sepsis = catalog.find((m) => m.modelId === 'sepsis-risk');

function result(overrides: Partial<PlannedResult['patient']> = {}): PlannedResult {
  return {
    modelId: 'cxr-pneumothorax',
    day: 1,
    sequence: 7,
    time: new Date('2026-03-06T10:15:30.250Z'),
    probability: 0.12345,
    transport: 'hl7',
    controlId: 'C2603060007-16',
    patient: {
      id: 'p1',
      mrn: 'mrn-123',
      family: 'Doe',
      givenNames: 'Jane',
      birthDate: '1970-01-31',
      gender: 'female',
      inputs: populationDefaults(),
      missingInputs: [],
      ...overrides,
    },
  };
}

/** Splits a message into segments and fields; for MSH, index n is MSH-(n+1) because MSH-1 is the separator. */
function parse(message: string): Map<string, string[]> {
  const segments = message.split('\r').filter((s) => s !== '');
  return new Map(segments.map((s) => [s.slice(0, 3), s.split('|')]));
}

void describe('escapeHl7', () => {
  void it('escapes every delimiter', () => {
    assert.equal(escapeHl7('a|b^c~d\\e&f'), 'a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f');
  });

  void it('escapes line breaks', () => {
    assert.equal(escapeHl7('a\rb\nc'), 'a\\X0D\\b\\X0A\\c');
  });

  void it('escapes the escape character first', () => {
    assert.equal(escapeHl7('\\F\\'), '\\E\\F\\E\\');
  });
});

void describe('formatHl7Time', () => {
  void it('writes UTC with +0000', () => {
    assert.equal(formatHl7Time(new Date('2026-03-06T10:15:30.250Z')), '20260306101530+0000');
  });
});

void describe('buildOruR01', () => {
  assert.ok(cxr, 'the catalog has cxr-pneumothorax');
  assert.ok(sepsis, 'the catalog has sepsis-risk');

  void it('has MSH, PID, OBR and OBX in order', () => {
    const message = buildOruR01(cxr, result(), 'ACC1');
    assert.ok(message.endsWith('\r'));
    assert.ok(!message.includes('\n'));
    assert.deepEqual(
      message
        .split('\r')
        .filter((s) => s !== '')
        .map((s) => s.slice(0, 3)),
      ['MSH', 'PID', 'OBR', 'OBX']
    );
  });

  void it('fills the MSH fields', () => {
    const msh = parse(buildOruR01(cxr, result(), 'ACC1')).get('MSH') ?? [];
    assert.equal(msh[1], '^~\\&');
    assert.equal(msh[2], 'CXRAI');
    assert.equal(msh[3], 'MONITORMED_DEMO');
    assert.equal(msh[6], '20260306101530+0000');
    assert.equal(msh[8], 'ORU^R01^ORU_R01');
    assert.equal(msh[9], 'C2603060007-16');
    assert.equal(msh[10], 'P');
    assert.equal(msh[11], '2.5.1');
  });

  void it('uses the sepsis sending application', () => {
    const msh = parse(buildOruR01(sepsis, result())).get('MSH') ?? [];
    assert.equal(msh[2], 'SEPSISAI');
  });

  void it('fills PID-3 with the hospital MRN', () => {
    const pid = parse(buildOruR01(cxr, result(), 'ACC1')).get('PID') ?? [];
    assert.equal(pid[3], 'mrn-123^^^Hospital&http://hospital.smarthealthit.org&URI^MR');
    assert.equal(pid[5], 'Doe^Jane');
    assert.equal(pid[7], '19700131');
    assert.equal(pid[8], 'F');
  });

  void it('fills the OBR fields', () => {
    const obr = parse(buildOruR01(cxr, result(), 'ACC1')).get('OBR') ?? [];
    assert.equal(obr[1], '1');
    assert.equal(obr[3], 'ACC1');
    assert.equal(obr[4], 'CXR-PTX-TRIAGE^Chest X-ray pneumothorax triage^L');
    assert.equal(obr[7], '20260306101530+0000');
    assert.equal(obr[25], 'F');
    assert.equal(obr.length, 26);
  });

  void it('fills the OBX fields', () => {
    const obx = parse(buildOruR01(cxr, result(), 'ACC1')).get('OBX') ?? [];
    assert.equal(obx[1], '1');
    assert.equal(obx[2], 'NM');
    assert.equal(obx[3], 'MM-CXR-PTX^Pneumothorax probability^L');
    assert.equal(obx[5], '0.1235');
    assert.equal(obx[6], '1');
    assert.equal(obx[11], 'F');
    assert.equal(obx[14], '20260306101530+0000');
  });

  void it('escapes delimiters in patient text', () => {
    const message = buildOruR01(
      cxr,
      result({ family: "O'Brien|Smith^Jr", givenNames: 'A~B\\C&D', mrn: 'M|1' }),
      'ACC1'
    );
    const pid = parse(message).get('PID') ?? [];
    assert.equal(pid.length, 9, 'no extra fields from an unescaped |');
    assert.equal(pid[5], "O'Brien\\F\\Smith\\S\\Jr^A\\R\\B\\E\\C\\T\\D");
    assert.equal(pid[3], 'M\\F\\1^^^Hospital&http://hospital.smarthealthit.org&URI^MR');
  });

  void it('maps gender to HL7 table 0001', () => {
    const sex = (gender: string): string | undefined =>
      parse(buildOruR01(cxr, result({ gender }))).get('PID')?.[8];
    assert.equal(sex('male'), 'M');
    assert.equal(sex('other'), 'O');
    assert.equal(sex(''), 'U');
  });
});
