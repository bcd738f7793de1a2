/**
 * MLLP framing (HL7 v2 Minimal Lower Layer Protocol, release 2, HL7 v2.5.1 Appendix C):
 * every message travels as `<VT> message <FS><CR>`.
 * https://www.hl7.org/implement/standards/product_brief.cfm?product_id=55
 */

import { CARRIAGE_RETURN, END_BLOCK, START_BLOCK, encodeFrame } from '@monitormed/common';

export { CARRIAGE_RETURN, END_BLOCK, START_BLOCK, encodeFrame };

/** Default maximum size of one message in bytes (1 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

/** Bytes that may sit between frames and are skipped: NUL, CR, LF, space and tab. */
const INTER_FRAME_FILLER = new Set([0x00, 0x0a, 0x0d, 0x20, 0x09]);

/** One event of the decoder: a complete frame, an oversized frame or bytes outside any frame. */
export type FrameEvent =
  | { kind: 'frame'; payload: Buffer }
  | { kind: 'oversized'; byteLength: number; head: Buffer }
  | { kind: 'junk'; byteLength: number };

/** Number of leading bytes of an oversized frame kept so the listener can read its MSH for the ACK. */
const OVERSIZED_HEAD_BYTES = 4096;

/**
 * Incremental MLLP decoder for one connection. It reassembles frames split across TCP packets,
 * returns several frames found in one packet, skips filler bytes between frames and discards
 * the body of a frame larger than `maxMessageBytes` while keeping the stream in sync.
 */
export class MllpFrameDecoder {
  private readonly maxMessageBytes: number;
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  private inFrame = false;
  private oversized = false;
  private oversizedBytes = 0;
  private oversizedHead: Buffer = Buffer.alloc(0);
  /** True when the previous packet ended with FS inside a frame, so a CR may complete it. */
  private pendingEndBlock = false;

  constructor(maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES) {
    this.maxMessageBytes = maxMessageBytes;
  }

  /** True while a frame has started and not yet ended; used for graceful shutdown. */
  get hasPartialFrame(): boolean {
    return this.inFrame;
  }

  /**
   * Feeds received bytes to the decoder.
   * @param data - One TCP packet's bytes.
   * @returns The events completed by these bytes, in stream order.
   */
  push(data: Buffer): FrameEvent[] {
    const events: FrameEvent[] = [];
    let junkBytes = 0;
    let index = 0;

    while (index < data.length) {
      if (!this.inFrame) {
        // Between frames, only a start block matters: anything else is filler or junk.
        const start = data.indexOf(START_BLOCK, index);
        const skipped = data.subarray(index, start === -1 ? data.length : start);
        junkBytes += skipped.filter((byte) => !INTER_FRAME_FILLER.has(byte)).length;
        if (start === -1) {
          break;
        }
        this.beginFrame();
        index = start + 1;
        continue;
      }

      if (this.pendingEndBlock) {
        this.pendingEndBlock = false;
        if (data[index] === CARRIAGE_RETURN) {
          events.push(this.endFrame());
          index += 1;
          continue;
        }
        // An FS not followed by CR is part of the content (some senders omit the CR: accept it as the end).
        events.push(this.endFrame());
        continue;
      }

      const end = data.indexOf(END_BLOCK, index);
      const restart = data.indexOf(START_BLOCK, index);
      if (restart !== -1 && (end === -1 || restart < end)) {
        // A new start block before the end block means the sender abandoned the frame: drop it.
        this.append(data.subarray(index, restart));
        junkBytes += this.discardFrame();
        continue;
      }

      if (end === -1) {
        this.append(data.subarray(index));
        break;
      }

      this.append(data.subarray(index, end));
      index = end + 1;
      if (index >= data.length) {
        this.pendingEndBlock = true;
        break;
      }
      if (data[index] === CARRIAGE_RETURN) {
        index += 1;
      }
      events.push(this.endFrame());
    }

    if (junkBytes > 0) {
      events.unshift({ kind: 'junk', byteLength: junkBytes });
    }
    return events;
  }

  private resetFrame(): void {
    this.inFrame = false;
    this.chunks = [];
    this.bufferedBytes = 0;
    this.oversized = false;
    this.oversizedBytes = 0;
    this.oversizedHead = Buffer.alloc(0);
  }

  private beginFrame(): void {
    this.resetFrame();
    this.inFrame = true;
  }

  private append(bytes: Buffer): void {
    if (bytes.length === 0) {
      return;
    }

    if (this.oversized) {
      this.oversizedBytes += bytes.length;
      return;
    }

    this.chunks.push(Buffer.from(bytes));
    this.bufferedBytes += bytes.length;
    if (this.bufferedBytes > this.maxMessageBytes) {
      // Keep only the head (for MSH) and count the rest, so memory stays bounded.
      const all = Buffer.concat(this.chunks);
      this.oversized = true;
      this.oversizedBytes = all.length;
      this.oversizedHead = all.subarray(0, OVERSIZED_HEAD_BYTES);
      this.chunks = [];
      this.bufferedBytes = 0;
    }
  }

  private endFrame(): FrameEvent {
    const event: FrameEvent = this.oversized
      ? { kind: 'oversized', byteLength: this.oversizedBytes, head: this.oversizedHead }
      : { kind: 'frame', payload: Buffer.concat(this.chunks) };
    this.resetFrame();
    return event;
  }

  private discardFrame(): number {
    const dropped = this.oversized ? this.oversizedBytes : this.bufferedBytes;
    this.resetFrame();
    return dropped;
  }
}
