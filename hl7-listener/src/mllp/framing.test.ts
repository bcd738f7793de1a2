import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CARRIAGE_RETURN,
  END_BLOCK,
  MllpFrameDecoder,
  START_BLOCK,
  encodeFrame,
  type FrameEvent,
} from './framing.js';

const MESSAGE = 'MSH|^~\\&|A|B|C|D|20260314||ORU^R01|1|P|2.5.1\rPID|1||X\r';

function payloads(events: FrameEvent[]): string[] {
  return events.flatMap((event) => (event.kind === 'frame' ? [event.payload.toString('utf8')] : []));
}

void describe('MllpFrameDecoder', () => {
  void it('encodes a frame with VT and FS CR', () => {
    const frame = encodeFrame('MSH|');
    assert.equal(frame[0], START_BLOCK);
    assert.equal(frame[frame.length - 2], END_BLOCK);
    assert.equal(frame[frame.length - 1], CARRIAGE_RETURN);
    assert.equal(frame.subarray(1, -2).toString('utf8'), 'MSH|');
  });

  void it('reassembles a frame sent byte by byte', () => {
    const decoder = new MllpFrameDecoder();
    const frame = encodeFrame(MESSAGE);
    const events: FrameEvent[] = [];
    for (const byte of frame) {
      events.push(...decoder.push(Buffer.from([byte])));
    }
    assert.deepEqual(payloads(events), [MESSAGE]);
    assert.equal(decoder.hasPartialFrame, false);
  });

  void it('splits two frames and NULs in one packet', () => {
    const decoder = new MllpFrameDecoder();
    const packet = Buffer.concat([
      Buffer.from([0, 0, 0x0a]),
      encodeFrame(MESSAGE),
      Buffer.from([0, 0x0d, 0x0a]),
      encodeFrame('MSH|second'),
    ]);
    const events = decoder.push(packet);
    assert.deepEqual(payloads(events), [MESSAGE, 'MSH|second']);
    assert.equal(
      events.some((event) => event.kind === 'junk'),
      false
    );
  });

  void it('reports junk bytes between frames', () => {
    const decoder = new MllpFrameDecoder();
    const events = decoder.push(Buffer.concat([Buffer.from('garbage'), encodeFrame(MESSAGE)]));
    assert.deepEqual(events[0], { kind: 'junk', byteLength: 7 });
    assert.deepEqual(payloads(events), [MESSAGE]);
  });

  void it('handles FS and CR in separate packets', () => {
    const decoder = new MllpFrameDecoder();
    const frame = encodeFrame(MESSAGE);
    const first = decoder.push(frame.subarray(0, frame.length - 1));
    assert.deepEqual(payloads(first), []);
    const second = decoder.push(frame.subarray(frame.length - 1));
    assert.deepEqual(payloads(second), [MESSAGE]);
  });

  void it('discards an oversized frame and keeps decoding', () => {
    const decoder = new MllpFrameDecoder(100);
    const big = `MSH|^~\\&|A|B|C|D|20260314||ORU^R01|BIG|P|2.5.1\r${'OBX|1|ST|X||'.padEnd(500, 'y')}\r`;
    const events = [
      ...decoder.push(encodeFrame(big).subarray(0, 60)),
      ...decoder.push(Buffer.concat([encodeFrame(big).subarray(60), encodeFrame(MESSAGE)])),
    ];
    const oversized = events.find((event) => event.kind === 'oversized');
    assert.ok(oversized?.kind === 'oversized');
    assert.equal(oversized.byteLength, Buffer.byteLength(big));
    assert.ok(oversized.head.toString('utf8').startsWith('MSH|'));
    assert.deepEqual(payloads(events), [MESSAGE]);
  });

  void it('drops a frame abandoned by a new start block', () => {
    const decoder = new MllpFrameDecoder();
    const events = decoder.push(
      Buffer.concat([Buffer.from([START_BLOCK]), Buffer.from('MSH|partial'), encodeFrame(MESSAGE)])
    );
    assert.deepEqual(payloads(events), [MESSAGE]);
    assert.ok(events.some((event) => event.kind === 'junk'));
  });

  void it('accepts frames on a long kept-alive stream', () => {
    const decoder = new MllpFrameDecoder();
    const received: string[] = [];
    for (let index = 0; index < 200; index += 1) {
      received.push(...payloads(decoder.push(encodeFrame(`MSH|${index}`))));
    }
    assert.equal(received.length, 200);
    assert.equal(received[199], 'MSH|199');
  });
});
