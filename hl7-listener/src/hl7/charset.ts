import { ERROR_CODES, type Hl7Issue } from './hl7-error.js';

/** Character sets of HL7 table 0211 that the listener decodes. */
export type SupportedCharset = 'ASCII' | '8859/1' | 'UNICODE UTF-8';

/** Result of {@link decodeMessageBytes}: the text, and an issue when the bytes do not match MSH-18. */
export interface DecodedMessage {
  text: string;
  /** Normalized MSH-18 value, or undefined when MSH-18 is empty. */
  charset: SupportedCharset | undefined;
  /** Set when MSH-18 is unknown or the bytes are invalid in it; the text is then a lossy decoding. */
  issue?: Hl7Issue;
}

/**
 * Spellings of MSH-18 seen from senders, after trimming and upper-casing, mapped to table 0211 values.
 * HL7 v2.5.1 table 0211 defines `ASCII`, `8859/1` and `UNICODE UTF-8`. `UNICODE` is the older value,
 * read as UTF-8 because that is how Unicode travels on an 8-bit transport such as MLLP.
 */
const CHARSET_ALIASES: Record<string, SupportedCharset> = {
  ASCII: 'ASCII',
  'US-ASCII': 'ASCII',
  '8859/1': '8859/1',
  'ISO 8859/1': '8859/1',
  'ISO-8859-1': '8859/1',
  'ISO8859-1': '8859/1',
  'ISO 8859-1': '8859/1',
  'UNICODE UTF-8': 'UNICODE UTF-8',
  UNICODE: 'UNICODE UTF-8',
  'UTF-8': 'UNICODE UTF-8',
  UTF8: 'UNICODE UTF-8',
};

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Length in bytes of the UTF-8 byte order mark. */
export const UTF8_BOM_BYTES = UTF8_BOM.length;

/** Tells whether the bytes start with a UTF-8 byte order mark, which some senders put before MSH or FHS. */
export function hasUtf8Bom(bytes: Buffer): boolean {
  return bytes.subarray(0, UTF8_BOM_BYTES).equals(UTF8_BOM);
}

const MSH18_LOCATION = { segment: 'MSH', segmentSequence: 1, field: 18 } as const;

/**
 * Reads MSH-18 (first repetition) from the raw bytes of one message. MSH is plain ASCII in every
 * character set the listener accepts, so the header line is read byte by byte before any decoding.
 * @param bytes - One message, starting with MSH.
 * @returns MSH-18 trimmed, or '' when absent.
 */
export function readDeclaredCharset(bytes: Buffer): string {
  // A UTF-8 byte order mark before MSH is skipped, so MSH-18 is still found.
  const start = hasUtf8Bom(bytes) ? UTF8_BOM_BYTES : 0;
  const lineEnd = bytes.findIndex((byte, index) => index >= start && (byte === 0x0d || byte === 0x0a));
  const header = bytes.subarray(start, lineEnd === -1 ? bytes.length : lineEnd).toString('latin1');
  if (!header.startsWith('MSH') || header.length < 4) {
    return '';
  }

  const fieldSeparator = header.charAt(3);
  const fields = header.split(fieldSeparator);
  const repetition = fields[1]?.charAt(1) ?? '~';
  // fields[0] is 'MSH' and MSH-1 is the separator itself, so MSH-n sits at index n - 1.
  const msh18 = fields[17] ?? '';
  return (msh18.split(repetition)[0] ?? '').trim();
}

/**
 * Maps an MSH-18 value to the character set the listener decodes, ignoring case and extra spaces.
 * @returns The table 0211 value, or undefined when the listener does not support it.
 */
export function normalizeCharset(declared: string): SupportedCharset | undefined {
  const key = declared.trim().toUpperCase().replace(/\s+/g, ' ');
  return CHARSET_ALIASES[key];
}

/**
 * Finds the first byte that does not start a valid UTF-8 sequence (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF).
 * @returns The byte offset, or -1 when every sequence is valid.
 */
export function findInvalidUtf8Offset(bytes: Buffer): number {
  let index = 0;
  while (index < bytes.length) {
    const lead = bytes[index] ?? 0;
    let length: number;
    let min: number;
    if (lead < 0x80) {
      index += 1;
      continue;
    } else if (lead >= 0xc2 && lead <= 0xdf) {
      length = 2;
      min = 0x80;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      min = 0x800;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      min = 0x10000;
    } else {
      return index;
    }

    let codePoint = lead & (0xff >> (length + 1));
    for (let offset = 1; offset < length; offset += 1) {
      const next = bytes[index + offset];
      if (next === undefined || (next & 0xc0) !== 0x80) {
        return index;
      }
      codePoint = (codePoint << 6) | (next & 0x3f);
    }
    if (codePoint < min || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) {
      return index;
    }
    index += length;
  }
  return -1;
}

function mismatch(charset: SupportedCharset, offset: number, detail: string): Hl7Issue {
  // Table 0357 has no code for a character set mismatch; 102 (data type error) is the closest, because
  // the content does not conform to the encoding MSH-18 declares.
  return {
    ackCode: 'AE',
    errorCode: ERROR_CODES.dataTypeError,
    location: MSH18_LOCATION,
    text: `Message bytes do not match MSH-18 character set ${charset}: ${detail} at byte offset ${offset}`,
  };
}

/**
 * Decodes the bytes of one message with the character set its MSH-18 declares.
 *
 * An empty MSH-18 keeps the listener's lenient default: UTF-8, or ISO 8859-1 when the bytes are not
 * valid UTF-8. A declared set is enforced: bytes invalid in it produce an AE issue naming the set and
 * the byte offset, and the text is then decoded leniently (UTF-8 with U+FFFD) for the stored record only.
 * @param bytes - One message, starting with MSH.
 * @returns The text, the normalized character set and any issue.
 */
export function decodeMessageBytes(bytes: Buffer): DecodedMessage {
  const declared = readDeclaredCharset(bytes);
  if (declared === '') {
    return { text: decodeLenient(bytes), charset: undefined };
  }

  const charset = normalizeCharset(declared);
  if (charset === undefined) {
    return {
      text: decodeLenient(bytes),
      charset: undefined,
      issue: {
        ackCode: 'AE',
        // MSH-18 is coded from table 0211, so a value outside the supported subset is 103.
        errorCode: ERROR_CODES.tableValueNotFound,
        location: MSH18_LOCATION,
        text: `MSH-18 character set ${declared} is not supported; use ASCII, 8859/1 or UNICODE UTF-8`,
      },
    };
  }

  if (charset === 'ASCII') {
    const offset = bytes.findIndex((byte) => byte >= 0x80);
    return offset === -1
      ? { text: bytes.toString('latin1'), charset }
      : {
          text: decodeLenient(bytes),
          charset,
          issue: mismatch(charset, offset, `byte 0x${(bytes[offset] ?? 0).toString(16)} is not ASCII`),
        };
  }

  if (charset === '8859/1') {
    // Every byte is a valid ISO 8859-1 character. TextDecoder is not used here because the WHATWG
    // Encoding Standard maps the 'latin1' and 'iso-8859-1' labels to windows-1252.
    return { text: bytes.toString('latin1'), charset };
  }

  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), charset };
  } catch {
    const offset = findInvalidUtf8Offset(bytes);
    return {
      text: new TextDecoder('utf-8').decode(bytes),
      charset,
      issue: mismatch(charset, Math.max(offset, 0), 'invalid UTF-8 sequence'),
    };
  }
}

/** Decodes as UTF-8, or as ISO 8859-1 when the bytes are not valid UTF-8 (both keep every byte readable). */
export function decodeLenient(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}
