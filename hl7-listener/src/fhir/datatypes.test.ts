/**
 * Unit tests of the OBX-5 value types, OBX fields and OBR fields, mapped as the HL7 v2-to-FHIR IG does.
 * They run on parsed segments only, with no peer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Observation } from '@medplum/fhirtypes';
import { Hl7ProcessingError } from '../hl7/hl7-error.js';
import { parseMessage } from '../hl7/message.js';
import type { Hl7Segment } from '../hl7/segment.js';
import {
  HL7V2_ASSUMED_TIME_ZONE_EXTENSION,
  HL7V2_RAW_VALUE_EXTENSION,
  HL7V2_REPORT_NOTE_EXTENSION,
} from './extensions.js';
import { mapObservation } from './observation.js';
import { mapObservationValue, type MappedValue } from './observation-value.js';
import { buildReport, readReportEffective } from './report.js';
import { groupResults } from './result-groups.js';

const MSH = 'MSH|^~\\&|LAB|HOSP|MM|MMFAC|20260314||ORU^R01|CTRL|P|2.5.1';
const UCUM = 'http://unitsofmeasure.org';

function segment(text: string, name: string): Hl7Segment {
  const found = parseMessage(`${MSH}\r${text}`).segments.find((s) => s.name === name);
  assert.ok(found, `segment ${name} not parsed`);
  return found;
}

function value(type: string, obx5: string, units = '', timeZone = 'UTC'): MappedValue {
  return mapObservationValue(segment(`OBX|1|${type}|X^Test^L||${obx5}|${units}|||||F`, 'OBX'), {
    facilityTimeZone: timeZone,
  });
}

function observation(obx: string): Observation {
  return mapObservation(segment(obx, 'OBX'), {
    subject: { reference: 'Patient/1' },
    identifierValue: 'HOSP|CTRL|1|1',
    fallbackEffective: undefined,
    notes: [],
    facilityTimeZone: 'UTC',
  }).observation;
}

/** Asserts that `run` throws an Hl7ProcessingError with the ACK code, ERR-3 code and location. */
function assertIssue(
  run: () => unknown,
  expected: { ackCode: 'AE' | 'AR'; errorCode: string; segment: string; field: number; component?: number }
): Hl7ProcessingError {
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof Hl7ProcessingError, `expected an Hl7ProcessingError, got ${String(caught)}`);
  assert.equal(caught.issue.ackCode, expected.ackCode);
  assert.equal(caught.issue.errorCode, expected.errorCode);
  const location = caught.issue.location;
  assert.ok(location, 'the issue has no ERR-2 location');
  assert.equal(location.segment, expected.segment);
  assert.equal(location.field, expected.field);
  if (expected.component !== undefined) {
    assert.equal(location.component, expected.component);
  }
  return caught;
}

/** Builds a segment line from field values by position, such as `{ 4: 'X^x^L', 25: 'F' }`. */
function segmentLine(name: string, fields: Record<number, string>): string {
  const last = Math.max(...Object.keys(fields).map(Number));
  const values = Array.from({ length: last }, (_unused, index) => fields[index + 1] ?? '');
  return [name, ...values].join('|');
}

void describe('NM values', () => {
  void it('reads signs, leading zeros and bare fractions', () => {
    const cases: [string, number][] = [
      ['007', 7],
      ['+1.5', 1.5],
      ['-0.20', -0.2],
      ['.5', 0.5],
      ['12.', 12],
      [' 42 ', 42],
    ];
    for (const [text, expected] of cases) {
      assert.equal(value('NM', text).valueQuantity?.value, expected, `NM ${text}`);
    }
  });

  void it('keeps UCUM units and local unit text', () => {
    assert.deepEqual(value('NM', '4.1', 'mmol/L^millimole per liter^UCUM').valueQuantity, {
      value: 4.1,
      unit: 'millimole per liter',
      system: UCUM,
      code: 'mmol/L',
    });
    assert.deepEqual(value('NM', '3', 'U/L^^L').valueQuantity, { value: 3, unit: 'U/L' });
  });

  void it('rejects text, exponents and components', () => {
    for (const text of ['positive', '1e3', '4,1', '4^1', '--1', '.']) {
      const err = assertIssue(() => value('NM', text), {
        ackCode: 'AE',
        errorCode: '102',
        segment: 'OBX',
        field: 5,
      });
      assert.match(err.issue.text, /OBX-2 value type NM/);
    }
  });
});

void describe('SN values', () => {
  void it('maps comparators to Quantity.comparator', () => {
    assert.deepEqual(value('SN', '<^0.5', 'mg/dL^^UCUM').valueQuantity, {
      value: 0.5,
      comparator: '<',
      unit: 'mg/dL',
      system: UCUM,
      code: 'mg/dL',
    });
    assert.equal(value('SN', '>=^10').valueQuantity?.comparator, '>=');
    assert.equal(value('SN', '<=^10').valueQuantity?.comparator, '<=');
    assert.deepEqual(value('SN', '=^10').valueQuantity, { value: 10 });
  });

  void it('reads an SN sent as text in component 1', () => {
    assert.deepEqual(value('SN', '<0.5').valueQuantity, { value: 0.5, comparator: '<' });
    assert.deepEqual(value('SN', '>= 10').valueQuantity, { value: 10, comparator: '>=' });
  });

  void it('maps ranges and ratios', () => {
    assert.deepEqual(value('SN', '^10^-^20').valueRange, { low: { value: 10 }, high: { value: 20 } });
    assert.deepEqual(value('SN', '^1^:^128').valueRatio, {
      numerator: { value: 1 },
      denominator: { value: 128 },
    });
    assert.deepEqual(value('SN', '^1^/^2').valueRatio, {
      numerator: { value: 1 },
      denominator: { value: 2 },
    });
  });

  void it('keeps categorical and not-equal forms as text', () => {
    assert.deepEqual(value('SN', '^2^+'), { valueString: '2+' });
    assert.deepEqual(value('SN', '<>^5'), { valueString: '<> 5' });
  });

  void it('rejects unparseable SN with the component', () => {
    const cases: [string, number][] = [
      ['^abc', 2],
      ['!^5', 1],
      ['<^', 2],
      ['^1^-', 4],
      ['^1^.^2', 3],
      ['<^1^-^2', 3],
    ];
    for (const [text, component] of cases) {
      assertIssue(() => value('SN', text), {
        ackCode: 'AE',
        errorCode: '102',
        segment: 'OBX',
        field: 5,
        component,
      });
    }
  });
});

void describe('text values', () => {
  void it('joins TX repetitions as lines and keeps the raw value', () => {
    const mapped = value('TX', 'first\\.br\\second~third \\H\\bold\\N\\');
    assert.equal(mapped.valueString, 'first\nsecond\nthird bold');
    assert.deepEqual(mapped.extension, [
      { url: HL7V2_RAW_VALUE_EXTENSION, valueString: 'first\\.br\\second~third \\H\\bold\\N\\' },
    ]);
  });

  void it('adds no raw value when nothing was decoded', () => {
    assert.deepEqual(value('ST', 'Hemolysed sample'), { valueString: 'Hemolysed sample' });
  });
});

void describe('coded values', () => {
  void it('maps CWE triplets with table 0396 systems', () => {
    assert.deepEqual(value('CWE', '260373001^Detected^SCT').valueCodeableConcept, {
      coding: [{ system: 'http://snomed.info/sct', code: '260373001', display: 'Detected' }],
      text: 'Detected',
    });
    assert.equal(
      value('CE', 'Y^Yes^HL70136').valueCodeableConcept?.coding?.[0]?.system,
      'http://terminology.hl7.org/CodeSystem/v2-0136'
    );
    assert.deepEqual(value('CWE', '^^^^^^^^Free text only').valueCodeableConcept, { text: 'Free text only' });
  });

  void it('maps IS to a bare code', () => {
    assert.deepEqual(value('IS', 'A').valueCodeableConcept, { coding: [{ code: 'A' }], text: 'A' });
  });

  void it('rejects repeated coded values', () => {
    assertIssue(() => value('CWE', 'A^a^L~B^b^L'), {
      ackCode: 'AE',
      errorCode: '102',
      segment: 'OBX',
      field: 5,
    });
  });
});

void describe('date and time values', () => {
  void it('keeps partial precision', () => {
    assert.deepEqual(value('DT', '2026'), { valueDateTime: '2026' });
    assert.deepEqual(value('DT', '202603'), { valueDateTime: '2026-03' });
    assert.deepEqual(value('DTM', '20260310'), { valueDateTime: '2026-03-10' });
  });

  void it('records the facility zone for a time without offset', () => {
    const mapped = value('TS', '202603101200', '', 'Europe/Paris');
    assert.equal(mapped.valueDateTime, '2026-03-10T12:00:00+01:00');
    assert.deepEqual(mapped.extension, [
      {
        url: HL7V2_ASSUMED_TIME_ZONE_EXTENSION,
        extension: [
          { url: 'element', valueString: 'valueDateTime' },
          { url: 'timeZone', valueString: 'Europe/Paris' },
        ],
      },
    ]);
  });

  void it('keeps a sent offset without extension', () => {
    assert.deepEqual(value('DTM', '20260310120000-0500', '', 'Europe/Paris'), {
      valueDateTime: '2026-03-10T12:00:00-05:00',
    });
  });

  void it('maps TM, DR and NR', () => {
    assert.deepEqual(value('TM', '1230'), { valueTime: '12:30:00' });
    assert.deepEqual(value('DR', '20260101^20260131'), {
      valuePeriod: { start: '2026-01-01', end: '2026-01-31' },
    });
    assert.deepEqual(value('NR', '3.5^5.1', 'mmol/L^^UCUM').valueRange, {
      low: { value: 3.5, unit: 'mmol/L', system: UCUM, code: 'mmol/L' },
      high: { value: 5.1, unit: 'mmol/L', system: UCUM, code: 'mmol/L' },
    });
  });

  void it('rejects malformed dates at OBX-5', () => {
    for (const [type, text] of [
      ['DT', '2026-03-10'],
      ['DTM', '20261340'],
      ['TM', '2561'],
    ]) {
      assertIssue(() => value(type ?? '', text ?? ''), {
        ackCode: 'AE',
        errorCode: '102',
        segment: 'OBX',
        field: 5,
      });
    }
  });
});

function attachmentOf(type: string, obx5: string): NonNullable<MappedValue['attachment']> {
  const { attachment } = value(type, obx5);
  assert.ok(attachment, 'OBX-5 mapped to no attachment');
  return attachment;
}

void describe('ED values', () => {
  void it('decodes Base64, Hex and A encodings', () => {
    const base64 = attachmentOf('ED', '^AP^PDF^Base64^JVBERi0xLjQ=');
    assert.equal(base64.contentType, 'application/pdf');
    assert.equal(base64.data, 'JVBERi0xLjQ=');
    assert.equal(base64.size, 8);

    const hex = attachmentOf('ED', '^IM^PNG^Hex^89504E47');
    assert.equal(hex.contentType, 'image/png');
    assert.equal(Buffer.from(hex.data ?? '', 'base64').toString('hex'), '89504e47');

    const text = attachmentOf('ED', '^TEXT^PLAIN^A^a \\T\\ b');
    assert.equal(text.contentType, 'text/plain');
    assert.equal(Buffer.from(text.data ?? '', 'base64').toString('utf8'), 'a & b');
  });

  void it('rejects bad data, encodings and size', () => {
    assertIssue(() => value('ED', '^AP^PDF^Base64^not base64!'), {
      ackCode: 'AE',
      errorCode: '102',
      segment: 'OBX',
      field: 5,
      component: 5,
    });
    assertIssue(() => value('ED', '^AP^PDF^Hex^ABC'), {
      ackCode: 'AE',
      errorCode: '102',
      segment: 'OBX',
      field: 5,
      component: 5,
    });
    assertIssue(() => value('ED', '^AP^PDF^UU^abc'), {
      ackCode: 'AE',
      errorCode: '102',
      segment: 'OBX',
      field: 5,
      component: 4,
    });
    const obx = segment(`OBX|1|ED|X^Test^L||^AP^PDF^Base64^${'A'.repeat(16)}||||||F`, 'OBX');
    const err = assertIssue(
      () => mapObservationValue(obx, { facilityTimeZone: 'UTC', maxAttachmentBytes: 8 }),
      {
        ackCode: 'AE',
        errorCode: '102',
        segment: 'OBX',
        field: 5,
        component: 5,
      }
    );
    assert.match(err.issue.text, /exceeds the limit of 8 bytes/);
  });
});

void describe('OBX-2 checks', () => {
  void it('requires OBX-2 when OBX-5 is valued', () => {
    assertIssue(() => value('', '5'), { ackCode: 'AE', errorCode: '101', segment: 'OBX', field: 2 });
  });

  void it('rejects a type outside table 0125', () => {
    assertIssue(() => value('QQ', '5'), { ackCode: 'AE', errorCode: '103', segment: 'OBX', field: 2 });
  });
});

void describe('OBX fields', () => {
  void it('maps status, interpretation, range, method and equipment', () => {
    const mapped = observation(
      'OBX|1|NM|2823-3^Potassium^LN||5.6|mmol/L^^UCUM|3.5-5.1|H~QCF|||C|||20260314101500+0000||' +
        '|METH1^Method^L|ANALYZER-7^LAB^1.2.3.4^ISO'
    );
    assert.equal(mapped.status, 'corrected');
    assert.deepEqual(mapped.interpretation, [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'H' }],
      },
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0078', code: 'QCF' }] },
    ]);
    assert.deepEqual(mapped.referenceRange, [
      {
        low: { value: 3.5, unit: 'mmol/L', system: UCUM, code: 'mmol/L' },
        high: { value: 5.1, unit: 'mmol/L', system: UCUM, code: 'mmol/L' },
        text: '3.5-5.1',
      },
    ]);
    assert.equal(mapped.effectiveDateTime, '2026-03-14T10:15:00+00:00');
    assert.equal(mapped.method?.coding?.[0]?.code, 'METH1');
    assert.deepEqual(mapped.device, { identifier: { system: 'urn:oid:1.2.3.4', value: 'ANALYZER-7' } });
  });

  void it('maps OBX-16 and OBX-23 to performers', () => {
    const mapped = observation(
      segmentLine('OBX', {
        1: '1',
        2: 'NM',
        3: 'X^x^L',
        5: '1',
        11: 'F',
        16: 'DR9^Curie^Marie^^^Dr^^^NPI&2.16.840.1.113883.4.6&ISO',
        23: 'Central Lab^^^^^CLIA&2.16.840.1.113883.4.7&ISO^^^^05D0000000',
      })
    );
    assert.deepEqual(mapped.performer, [
      {
        type: 'Practitioner',
        identifier: { system: 'urn:oid:2.16.840.1.113883.4.6', value: 'DR9' },
        display: 'Dr Marie Curie',
      },
      {
        type: 'Organization',
        identifier: { system: 'urn:oid:2.16.840.1.113883.4.7', value: '05D0000000' },
        display: 'Central Lab',
      },
    ]);
  });

  void it('reads one-sided and textual reference ranges', () => {
    assert.deepEqual(observation('OBX|1|NM|X^x^L||1||<5||||F').referenceRange, [
      { high: { value: 5 }, text: '<5' },
    ]);
    assert.deepEqual(observation('OBX|1|NM|X^x^L||1||>=10||||F').referenceRange, [
      { low: { value: 10 }, text: '>=10' },
    ]);
    assert.deepEqual(observation('OBX|1|NM|X^x^L||1||negative||||F').referenceRange, [{ text: 'negative' }]);
  });

  void it('maps every table 0085 status', () => {
    const expected: Record<string, Observation['status']> = {
      A: 'amended',
      C: 'corrected',
      D: 'entered-in-error',
      F: 'final',
      I: 'registered',
      P: 'preliminary',
      R: 'preliminary',
      W: 'entered-in-error',
      X: 'cancelled',
    };
    for (const [code, status] of Object.entries(expected)) {
      assert.equal(observation(`OBX|1|NM|X^x^L||1||||||${code}`).status, status, `OBX-11 ${code}`);
    }
  });

  void it('rejects empty or unknown OBX-11', () => {
    assertIssue(() => observation('OBX|1|NM|X^x^L||1'), {
      ackCode: 'AE',
      errorCode: '101',
      segment: 'OBX',
      field: 11,
    });
    assertIssue(() => observation('OBX|1|NM|X^x^L||1||||||Q'), {
      ackCode: 'AE',
      errorCode: '103',
      segment: 'OBX',
      field: 11,
    });
  });

  void it('gives empty OBX-5 a data absent reason', () => {
    assert.equal(observation('OBX|1|NM|X^x^L||||||||F').dataAbsentReason?.coding?.[0]?.code, 'unknown');
    assert.equal(observation('OBX|1|NM|X^x^L||||||||N').dataAbsentReason?.coding?.[0]?.code, 'not-asked');
    assert.equal(observation('OBX|1|NM|X^x^L||||||||X').dataAbsentReason?.coding?.[0]?.code, 'not-performed');
  });
});

void describe('OBR to DiagnosticReport', () => {
  function report(obr: string, orc?: string): ReturnType<typeof buildReport> {
    const message = parseMessage(
      [MSH, 'PID|1||42^^^X&urn:example:mrn&URI^MR', ...(orc === undefined ? [] : [orc]), obr].join('\r')
    );
    const [group] = groupResults(message.segments);
    assert.ok(group);
    return buildReport(group, {
      identifierValue: 'HOSP|CTRL|1',
      subject: { reference: 'Patient/1' },
      effective: readReportEffective(group.obr, 'Europe/Paris'),
      results: [],
      facilityTimeZone: 'Europe/Paris',
    });
  }

  void it('maps identifiers, basedOn, times, category and people', () => {
    const mapped = report(
      segmentLine('OBR', {
        1: '1',
        2: 'PL-1^EHR^1.2.3^ISO',
        3: 'FI-9^LAB',
        4: '24323-8^Panel^LN',
        7: '202603140930',
        8: '202603140945',
        22: '202603141000+0100',
        24: 'CH',
        25: 'F',
        32: 'DR7&Curie&Marie',
        34: 'TECH1&Tesla&Nikola',
      })
    );
    assert.deepEqual(mapped.identifier?.slice(1), [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC' }] },
        system: 'urn:oid:1.2.3',
        value: 'PL-1',
      },
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'FILL' }] },
        value: 'FI-9',
      },
    ]);
    assert.deepEqual(mapped.basedOn, [{ type: 'ServiceRequest', identifier: mapped.identifier[1] }]);
    assert.deepEqual(mapped.effectivePeriod, {
      start: '2026-03-14T09:30:00+01:00',
      end: '2026-03-14T09:45:00+01:00',
    });
    assert.equal(mapped.effectiveDateTime, undefined);
    assert.equal(mapped.issued, '2026-03-14T10:00:00+01:00');
    assert.deepEqual(mapped.category, [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'CH' }] },
    ]);
    assert.equal(mapped.status, 'final');
    assert.deepEqual(mapped.resultsInterpreter, [
      { type: 'Practitioner', identifier: { value: 'DR7' }, display: 'Marie Curie' },
    ]);
    assert.deepEqual(mapped.performer, [
      { type: 'Practitioner', identifier: { value: 'TECH1' }, display: 'Nikola Tesla' },
    ]);
    assert.equal(
      mapped.extension?.filter((e) => e.url === HL7V2_ASSUMED_TIME_ZONE_EXTENSION).length,
      2,
      'OBR-7 and OBR-8 lack an offset'
    );
  });

  void it('keeps a local OBR-24 without system', () => {
    const mapped = report(segmentLine('OBR', { 1: '1', 4: 'X^x^L', 24: 'AI', 25: 'F' }));
    assert.deepEqual(mapped.category, [{ coding: [{ code: 'AI' }], text: 'AI' }]);
  });

  void it('puts OBR notes in the report note extension', () => {
    const message = parseMessage(
      [
        MSH,
        'PID|1||42^^^X&urn:example:mrn&URI^MR',
        segmentLine('OBR', { 1: '1', 4: 'X^x^L', 25: 'F' }),
        'NTE|1|L|a\\.br\\b',
      ].join('\r')
    );
    const [group] = groupResults(message.segments);
    assert.ok(group);
    const mapped = buildReport(group, {
      identifierValue: 'HOSP|CTRL|1',
      subject: { reference: 'Patient/1' },
      effective: readReportEffective(group.obr, 'UTC'),
      results: [],
      facilityTimeZone: 'UTC',
    });
    assert.deepEqual(mapped.extension, [
      { url: HL7V2_REPORT_NOTE_EXTENSION, valueAnnotation: { text: 'a\nb' } },
    ]);
  });

  void it('prefers ORC order numbers', () => {
    const mapped = report(
      segmentLine('OBR', { 1: '1', 2: 'PL-1', 3: 'FI-9', 4: 'X^x^L', 25: 'F' }),
      'ORC|RE|ORC-PL|ORC-FI'
    );
    assert.deepEqual(
      mapped.identifier?.slice(1).map((identifier) => identifier.value),
      ['ORC-PL', 'ORC-FI']
    );
  });

  void it('maps table 0123 and rejects Y, Z, empty and unknown', () => {
    const expected: Record<string, string> = {
      O: 'registered',
      P: 'preliminary',
      C: 'corrected',
      R: 'partial',
      X: 'cancelled',
    };
    for (const [code, status] of Object.entries(expected)) {
      assert.equal(
        report(segmentLine('OBR', { 1: '1', 4: 'X^x^L', 25: code })).status,
        status,
        `OBR-25 ${code}`
      );
    }
    for (const code of ['Y', 'Z', 'Q']) {
      assertIssue(() => report(segmentLine('OBR', { 1: '1', 4: 'X^x^L', 25: code })), {
        ackCode: 'AE',
        errorCode: '103',
        segment: 'OBR',
        field: 25,
      });
    }
    assertIssue(() => report('OBR|1||F1|X^x^L'), {
      ackCode: 'AE',
      errorCode: '101',
      segment: 'OBR',
      field: 25,
    });
  });
});
