import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildAck } from '../ack/ack-builder.js';
import { buildBatchAck } from './batch-ack.js';
import { splitFrame, type SplitBatch } from './split.js';

const MSH_A = 'MSH|^~\\&|LAB|FAC|MM|MMFAC|20260314||ORU^R01|A1|P|2.5.1';
const MSH_B = 'MSH|^~\\&|LAB|FAC|MM|MMFAC|20260314||ORU^R01|B2|P|2.5.1';
const FHS = 'FHS|^~\\&|LAB|FAC|MM|MMFAC|20260314||||F-77';
const BHS = 'BHS|^~\\&|LAB|FAC|MM|MMFAC|20260314||||B-42';

function batchOf(lines: string[], terminator = '\r'): SplitBatch {
  const split = splitFrame(Buffer.from(lines.join(terminator) + terminator, 'latin1'));
  assert.equal(split.kind, 'batch');
  return split;
}

function texts(batch: SplitBatch): string[] {
  return batch.messages.map((bytes) => bytes.toString('latin1'));
}

void describe('splitFrame', () => {
  void it('leaves a single message alone', () => {
    assert.equal(splitFrame(Buffer.from(`${MSH_A}\rPID|1\r`)).kind, 'single');
  });

  void it('splits a batch file into messages', () => {
    const batch = batchOf([FHS, BHS, MSH_A, 'PID|1', 'OBX|1', MSH_B, 'PID|2', 'BTS|2', 'FTS|1']);
    assert.deepEqual(texts(batch), [`${MSH_A}\rPID|1\rOBX|1`, `${MSH_B}\rPID|2`]);
    assert.equal(batch.fileHeader?.fields[11], 'F-77');
    assert.equal(batch.batchHeader?.fields[11], 'B-42');
    assert.deepEqual(batch.issues, []);
  });

  void it('keeps CRLF terminators inside messages', () => {
    const batch = batchOf([BHS, MSH_A, 'PID|1', 'BTS|1'], '\r\n');
    assert.deepEqual(texts(batch), [`${MSH_A}\r\nPID|1`]);
  });

  void it('splits concatenated messages', () => {
    const batch = batchOf([MSH_A, 'PID|1', MSH_B, 'PID|2']);
    assert.equal(batch.messages.length, 2);
    assert.equal(batch.batchHeader, undefined);
    assert.deepEqual(batch.issues, []);
  });

  void it('reports a BTS count mismatch', () => {
    const batch = batchOf([BHS, MSH_A, MSH_B, 'BTS|3']);
    assert.equal(batch.messages.length, 2);
    assert.equal(batch.issues.length, 1);
    assert.deepEqual(batch.issues[0]?.location, { segment: 'BTS', segmentSequence: 1, field: 1 });
    assert.match(batch.issues[0].text, /count is 3 but the batch contains 2/);
  });

  void it('reports a missing BTS and FTS', () => {
    const batch = batchOf([FHS, BHS, MSH_A]);
    assert.equal(batch.messages.length, 1);
    assert.deepEqual(
      batch.issues.map((issue) => issue.text),
      ['Batch trailer BTS is missing', 'File trailer FTS is missing']
    );
  });

  void it('reports an FTS count mismatch', () => {
    const batch = batchOf([FHS, BHS, MSH_A, 'BTS|1', 'FTS|2']);
    assert.equal(batch.issues.length, 1);
    assert.equal(batch.issues[0]?.location?.segment, 'FTS');
  });

  void it('reports segments outside any message', () => {
    const batch = batchOf([BHS, 'PID|1', MSH_A, 'BTS|1']);
    assert.equal(batch.messages.length, 1);
    assert.equal(batch.issues[0]?.location?.segment, 'PID');
  });

  void it('skips a leading byte order mark', () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const split = splitFrame(Buffer.concat([bom, Buffer.from(`${BHS}\r${MSH_A}\rBTS|1\r`)]));
    assert.equal(split.kind, 'batch');
    assert.equal(split.batchHeader?.fields[11], 'B-42');
    assert.deepEqual(split.issues, []);
  });

  void it('splits on bytes without decoding', () => {
    const utf8 = Buffer.from(`${BHS}\r${MSH_A}\rNTE|1||Zoë\r${MSH_B}\rBTS|2\r`, 'utf8');
    const split = splitFrame(utf8);
    assert.equal(split.kind, 'batch');
    assert.equal(split.messages[0]?.toString('utf8'), `${MSH_A}\rNTE|1||Zoë`);
  });
});

void describe('buildBatchAck', () => {
  const ackA = buildAck({
    code: 'AA',
    originalHeader: ['MSH', '|', ...MSH_A.split('|').slice(1)],
    issues: [],
  });

  void it('wraps ACKs in BHS and BTS', () => {
    const batch = batchOf([BHS, MSH_A, MSH_B, 'BTS|2']);
    const reply = buildBatchAck({
      batchHeader: batch.batchHeader,
      firstMessageHeader: [],
      acks: [ackA, ackA],
      issues: [],
    });
    const segments = reply.split('\r').filter((s) => s !== '');
    const bhs = segments[0]?.split('|') ?? [];
    assert.equal(bhs[0], 'BHS');
    // Split on '|', index n - 1 is BHS-n: BHS-11 is the new control id, BHS-12 the received BHS-11.
    assert.equal(bhs[10]?.length, 20);
    assert.equal(bhs[11], 'B-42');
    assert.deepEqual(bhs.slice(2, 6), ['MM', 'MMFAC', 'LAB', 'FAC']);
    assert.equal(segments.filter((s) => s.startsWith('MSA|')).length, 2);
    assert.equal(segments.at(-1), 'BTS|2');
  });

  void it('adds FHS and FTS for a file', () => {
    const batch = batchOf([FHS, BHS, MSH_A, 'BTS|1', 'FTS|1']);
    const reply = buildBatchAck({
      fileHeader: batch.fileHeader,
      batchHeader: batch.batchHeader,
      firstMessageHeader: [],
      acks: [ackA],
      issues: [],
    });
    const segments = reply.split('\r').filter((s) => s !== '');
    assert.equal(segments[0]?.split('|')[11], 'F-77');
    assert.equal(segments[1]?.split('|')[0], 'BHS');
    assert.deepEqual(segments.slice(-2), ['BTS|1', 'FTS|1']);
  });

  void it('reports envelope issues as ERR after BHS', () => {
    const batch = batchOf([BHS, MSH_A, 'BTS|5']);
    const reply = buildBatchAck({
      batchHeader: batch.batchHeader,
      firstMessageHeader: [],
      acks: [ackA],
      issues: batch.issues,
    });
    const segments = reply.split('\r').filter((s) => s !== '');
    const err = segments[1]?.split('|') ?? [];
    assert.equal(err[0], 'ERR');
    assert.equal(err[2], 'BTS^1^1');
    assert.equal(segments[2]?.split('|')[0], 'MSH');
  });

  void it('takes BHS parties from MSH without envelope', () => {
    const reply = buildBatchAck({
      firstMessageHeader: ['MSH', '|', '^~\\&', 'LAB', 'FAC', 'MM', 'MMFAC'],
      acks: [ackA, ackA],
      issues: [],
    });
    const bhs = reply.split('\r')[0]?.split('|') ?? [];
    assert.deepEqual(bhs.slice(2, 6), ['MM', 'MMFAC', 'LAB', 'FAC']);
    assert.equal(bhs[11], undefined);
  });
});
