import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toFhirDateTime } from './datetime.js';
import { Hl7ProcessingError } from './hl7-error.js';
import { parseMessage, peekHeader } from './message.js';
import { rawValue, repetitionCount, repetitionText, textValue } from './segment.js';

const ORU = [
  'MSH|^~\\&|LAB^Lab System^L|FAC|MM|MMFAC|20260314||ORU^R01^ORU_R01|CTRL-1|P|2.5.1',
  'PID|1||123^^^HOSP&1.2.3&ISO^MR~456^^^OTHER^PI||Doe^Jane',
  'OBR|1||F1|24323-8^Panel^LN',
  'OBX|1|ST|8251-1^Comment^LN||a\\F\\b & c^d||||||F',
];

function expectIssue(text: string, check: (error: Hl7ProcessingError) => void): void {
  assert.throws(
    () => parseMessage(text),
    (err: unknown) => {
      assert.ok(err instanceof Hl7ProcessingError);
      check(err);
      return true;
    }
  );
}

void describe('parseMessage', () => {
  for (const [name, terminator] of [
    ['CR', '\r'],
    ['LF', '\n'],
    ['CRLF', '\r\n'],
  ] as const) {
    void it(`accepts ${name} segment terminators`, () => {
      const message = parseMessage(ORU.join(terminator));
      assert.deepEqual(
        message.segments.map((segment) => segment.name),
        ['MSH', 'PID', 'OBR', 'OBX']
      );
      assert.equal(message.header.controlId, 'CTRL-1');
      assert.deepEqual(message.header.messageType, { code: 'ORU', trigger: 'R01', structure: 'ORU_R01' });
      assert.equal(message.header.sendingApplication, 'LAB');
      assert.equal(message.header.sendingApplicationField, 'LAB^Lab System^L');
    });
  }

  void it('reads repetitions, components and subcomponents', () => {
    const pid = parseMessage(ORU.join('\r')).segments[1];
    assert.ok(pid);
    assert.equal(repetitionCount(pid, 3), 2);
    assert.equal(textValue(pid, 3, 4, 2), '1.2.3');
    assert.equal(textValue(pid, 3, 5, 1, 1), 'PI');
    assert.equal(textValue(pid, 5, 2), 'Jane');
  });

  void it('keeps text values whole and decodes escapes', () => {
    const obx = parseMessage(ORU.join('\r')).segments[3];
    assert.ok(obx);
    assert.equal(repetitionText(obx, 5), 'a|b & c^d');
  });

  void it('rewrites custom delimiters to the standard ones', () => {
    const custom = [
      'MSH^~|\\&^APP^FAC^MM^MMFAC^20260314^^ADT~A24^C-9^T^2.4',
      'PID^1^^11111~~~FOO&&0363~NI|22222~~~BAR^^SMITH~JOHN \\F\\ \\S\\ a|b',
    ].join('\r\n');
    const message = parseMessage(custom);
    const pid = message.segments[1];
    assert.ok(pid);
    assert.deepEqual(message.header.messageType, { code: 'ADT', trigger: 'A24', structure: '' });
    assert.equal(message.header.controlId, 'C-9');
    assert.equal(repetitionCount(pid, 3), 2);
    assert.equal(textValue(pid, 3, 1, 1, 1), '22222');
    assert.equal(textValue(pid, 3, 4, 3), '0363');
    assert.equal(textValue(pid, 5, 2), 'JOHN ^ ~ a');
    assert.equal(rawValue(pid, 5, 1, 1, 1), 'b');
  });

  void it('rejects a message that does not start with MSH', () => {
    expectIssue('PID|1||X\rMSH|^~\\&|A', (err) => {
      assert.equal(err.issue.ackCode, 'AR');
      assert.equal(err.issue.errorCode, '100');
    });
  });

  void it('rejects invalid encoding characters', () => {
    for (const msh2 of ['~\\&', '&&&&', '^~\\\\&', '^~\\&ab']) {
      expectIssue(`MSH|${msh2}|A|B|C|D|20260314||ORU^R01|1|P|2.5.1\r`, (err) => {
        assert.equal(err.issue.ackCode, 'AR');
        assert.equal(err.issue.errorCode, '102');
        assert.deepEqual(err.issue.location, { segment: 'MSH', segmentSequence: 1, field: 2 });
      });
    }
  });

  void it('rejects an empty MSH-9', () => {
    expectIssue('MSH|^~\\&|A|B|C|D|20260314|||1|P|2.5.1\r', (err) => {
      assert.equal(err.issue.errorCode, '101');
      assert.deepEqual(err.issue.location, { segment: 'MSH', segmentSequence: 1, field: 9 });
    });
  });

  void it('rejects an empty MSH-10', () => {
    expectIssue('MSH|^~\\&|A|B|C|D|20260314||ORU^R01||P|2.5.1\r', (err) => {
      assert.equal(err.issue.errorCode, '101');
      assert.equal(err.issue.location?.field, 10);
    });
  });

  void it('rejects an invalid segment id', () => {
    expectIssue('MSH|^~\\&|A|B|C|D|20260314||ORU^R01|1|P|2.5.1\rpid|1\r', (err) => {
      assert.equal(err.issue.errorCode, '100');
    });
  });

  void it('rejects an unsplit batch envelope', () => {
    // The processor splits batches first, so parseMessage receives an envelope only when called directly.
    expectIssue('FHS|^~\\&\rMSH|^~\\&|A|B|C|D|20260314||ORU^R01|1|P|2.5.1\r', (err) => {
      assert.equal(err.issue.ackCode, 'AR');
      assert.equal(err.issue.errorCode, '100');
    });
  });
});

void describe('peekHeader', () => {
  void it('reads MSH of a message with invalid delimiters', () => {
    const fields = peekHeader('MSH|&&&&|APP|FAC|MM|MMFAC|20260314||ORU^R01|CTRL-2|P|2.5.1\r').fields;
    assert.equal(fields[3], 'APP');
    assert.equal(fields[10], 'CTRL-2');
  });

  void it('returns no fields without MSH', () => {
    assert.deepEqual(peekHeader('garbage').fields, []);
  });
});

void describe('toFhirDateTime', () => {
  void it('converts precisions and offsets', () => {
    assert.equal(toFhirDateTime('2026', 'UTC'), '2026');
    assert.equal(toFhirDateTime('20260314', 'UTC'), '2026-03-14');
    assert.equal(toFhirDateTime('202603141230', 'UTC'), '2026-03-14T12:30:00+00:00');
    assert.equal(toFhirDateTime('20260314123045.25-0500', 'UTC'), '2026-03-14T12:30:45.25-05:00');
  });

  void it('applies the facility time zone with daylight saving', () => {
    assert.equal(toFhirDateTime('20260114120000', 'Europe/Paris'), '2026-01-14T12:00:00+01:00');
    assert.equal(toFhirDateTime('20260714120000', 'Europe/Paris'), '2026-07-14T12:00:00+02:00');
    assert.equal(toFhirDateTime('20260714120000', 'America/New_York'), '2026-07-14T12:00:00-04:00');
  });

  void it('rejects impossible dates', () => {
    assert.throws(() => toFhirDateTime('20260230', 'UTC'));
    assert.throws(() => toFhirDateTime('20261301', 'UTC'));
    assert.throws(() => toFhirDateTime('2026031425', 'UTC'));
  });
});
