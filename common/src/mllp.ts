/**
 * MLLP framing constants (HL7 v2 Minimal Lower Layer Protocol, release 2, HL7 v2.5.1 Appendix C):
 * every message travels as `<VT> message <FS><CR>`. The listener and the MLLP clients take them from here.
 */

/** Start block character VT (0x0B). */
export const START_BLOCK = 0x0b;

/** End block character FS (0x1C). */
export const END_BLOCK = 0x1c;

/** Carriage return (0x0D) that must follow the end block. */
export const CARRIAGE_RETURN = 0x0d;

/** The start block as text, for clients that frame strings. */
export const MLLP_START_TEXT = String.fromCharCode(START_BLOCK);

/** The end block and its carriage return as text. */
export const MLLP_END_TEXT = String.fromCharCode(END_BLOCK, CARRIAGE_RETURN);

/**
 * Wraps a message in an MLLP frame.
 * @param message - HL7 text; it is encoded as UTF-8.
 * @returns The framed bytes.
 */
export function encodeFrame(message: string): Buffer {
  return Buffer.concat([
    Buffer.from([START_BLOCK]),
    Buffer.from(message, 'utf8'),
    Buffer.from([END_BLOCK, CARRIAGE_RETURN]),
  ]);
}
