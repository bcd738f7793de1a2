import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ObjectId } from 'mongodb';
import { BacklogMessage } from './backlog-message.js';
import type { WorkMessage } from './message-types.js';
import { queueStateOf } from './queue-segments.js';

const SEGMENT = 'hl7_message_queue_20261205120000000_0a1b2c3d';
const RECEIVED = new Date('2026-12-05T12:00:00Z');

function backlogMessage(work: WorkMessage): BacklogMessage {
  const state = queueStateOf(SEGMENT, {
    _id: work._id,
    kind: 'queued',
    patientKey: work.patientKey,
    receivedAt: work.receivedAt,
  });
  return new BacklogMessage(state, work);
}

// Latin-1 bytes (0xE9 is é), a NUL and bytes that are not valid UTF-8, as a message may carry them.
const RAW = Buffer.concat([
  Buffer.from('MSH|^~\\&|LAB|H\xe9pital|||20261205||ORU^R01|C1|P|2.5|||||8859/1\r', 'latin1'),
  Buffer.from([0x00, 0xff, 0xfe, 0x80]),
]);

const WORK: WorkMessage = {
  _id: new ObjectId(),
  rawBase64: RAW.toString('base64'),
  truncated: true,
  version: 2,
  receivedAt: RECEIVED,
  controlId: 'C1',
  header: ['', 'MSH', '|', '^~\\&', 'LAB', 'Hôpital', '', '', '20261205', '', 'ORU^R01', 'C1', 'P', '2.5'],
  ackMode: 'enhanced',
  applicationAckType: 'AL',
  channel: 'lab',
  sendingApplication: 'LAB',
  sendingFacility: 'Hôpital',
  patientKey: 'MRN-1^^^HOSP',
};

void describe('BacklogMessage', () => {
  void it('returns the exact message bytes', () => {
    const message = backlogMessage(WORK);

    assert.deepEqual(Buffer.from(message.rawBase64, 'base64'), RAW);
  });

  void it('returns the MSH fields and the fields read from them', () => {
    const message = backlogMessage(WORK);

    assert.deepEqual(message.header, WORK.header);
    assert.equal(message.controlId, 'C1');
    assert.equal(message.applicationAckType, 'AL');
    assert.equal(message.sendingApplication, 'LAB');
    assert.equal(message.sendingFacility, 'Hôpital');
  });

  void it('keeps absent optional fields absent', () => {
    const message = backlogMessage({
      _id: new ObjectId(),
      rawBase64: Buffer.from('MSH|^~\\&\r').toString('base64'),
      version: 1,
      receivedAt: RECEIVED,
      header: ['', 'MSH', '|', '^~\\&'],
      ackMode: 'original',
      channel: 'default',
      patientKey: '',
    });

    assert.equal(message.controlId, undefined);
    assert.equal(message.applicationAckType, undefined);
    assert.equal(message.sendingApplication, undefined);
    assert.equal(message.sendingFacility, undefined);
    assert.equal(message.truncated, undefined);
  });

  void it('copies the scheduling fields', () => {
    const message = backlogMessage(WORK);

    assert.equal(message._id, WORK._id);
    assert.equal(message.patientKey, WORK.patientKey);
    assert.equal(message.receivedAt, RECEIVED);
    assert.equal(message.segment, SEGMENT);
    assert.equal(message.status, 'received');
    assert.equal(message.ackMode, 'enhanced');
    assert.equal(message.channel, 'lab');
    assert.equal(message.version, 2);
    assert.equal(message.truncated, true);
  });

  void it('holds no array or buffer of its own', () => {
    // Every major collection marks each object that a waiting message keeps (see BacklogMessage).
    const message = backlogMessage(WORK);
    const objects = Object.values(message).filter(
      (value: unknown) => typeof value === 'object' && value !== null
    );

    assert.deepEqual(objects.map((value: object) => value.constructor.name).sort(), [
      'Date',
      'Date',
      'Date',
      'ObjectId',
    ]);
  });
});
