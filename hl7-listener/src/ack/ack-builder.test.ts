import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { peekHeader } from '../hl7/message.js';
import { buildAck, buildErr } from './ack-builder.js';

const ORIGINAL =
  'MSH|^~\\&|SEPSISAI^Demo^L|HOSP^1.2.3^ISO|MONITORMED|MMFAC|20260314||ORU^R01^ORU_R01|CTRL-7|T|2.4\rPID|1\r';

void describe('buildAck', () => {
  void it('swaps sender and receiver and keeps the version', () => {
    const ack = buildAck({
      code: 'AA',
      originalHeader: peekHeader(ORIGINAL).fields,
      issues: [],
      controlId: 'ACK-1',
      timestamp: new Date('2026-03-14T09:30:00Z'),
    });
    const segments = ack.split('\r');
    assert.equal(
      segments[0],
      'MSH|^~\\&|MONITORMED|MMFAC|SEPSISAI^Demo^L|HOSP^1.2.3^ISO|20260314093000+0000||ACK^R01^ACK|ACK-1|T|2.4'
    );
    assert.equal(segments[1], 'MSA|AA|CTRL-7|');
    assert.equal(segments.length, 3);
    assert.ok(ack.endsWith('\r'));
  });

  void it('adds one ERR per issue, each ending with CR', () => {
    const ack = buildAck({
      code: 'AR',
      originalHeader: peekHeader(ORIGINAL).fields,
      issues: [
        {
          ackCode: 'AR',
          errorCode: '101',
          location: { segment: 'MSH', segmentSequence: 1, field: 9 },
          text: 'MSH-9 missing',
        },
        { ackCode: 'AR', errorCode: '207', text: 'a|b' },
      ],
    });
    const segments = ack.split('\r');
    assert.equal(segments[1], 'MSA|AR|CTRL-7|MSH-9 missing');
    assert.equal(
      segments[2],
      'ERR|MSH^1^9^101&Required field missing&HL70357|MSH^1^9|101^Required field missing^HL70357|E||||MSH-9 missing'
    );
    assert.equal(segments[3], 'ERR|||207^Application internal error^HL70357|E||||a\\F\\b');
    assert.equal(segments[4], '');
    assert.equal(segments.length, 5);
  });

  void it('builds a new control id each time', () => {
    const fields = peekHeader(ORIGINAL).fields;
    const first = buildAck({ code: 'AA', originalHeader: fields, issues: [] }).split('|')[9];
    const second = buildAck({ code: 'AA', originalHeader: fields, issues: [] }).split('|')[9];
    assert.notEqual(first, second);
    assert.notEqual(first, 'CTRL-7');
  });

  void it('answers a message without MSH', () => {
    const ack = buildAck({
      code: 'AR',
      originalHeader: [],
      issues: [{ ackCode: 'AR', errorCode: '100', text: 'no MSH' }],
    });
    assert.match(ack, /^MSH\|\^~\\&\|\|\|\|\|\d{14}\+0000\|\|ACK\|\w+\|P\|2\.5\.1\rMSA\|AR\|\|no MSH\r/);
  });
});

void describe('buildErr', () => {
  void it('writes a component location', () => {
    const err = buildErr({
      ackCode: 'AE',
      errorCode: '102',
      location: { segment: 'OBX', segmentSequence: 2, field: 5, component: 1 },
      text: 'bad',
    });
    assert.equal(err.split('|')[2], 'OBX^2^5^^1');
  });
});
