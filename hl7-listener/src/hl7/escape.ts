import { STANDARD_ENCODING, type EncodingCharacters } from './encoding.js';

/** Body of a `\Xhh..\` escape: X and an even number of hexadecimal digits. */
const HEX_ESCAPE = /^X([0-9A-Fa-f]{2})+$/;

/**
 * Decodes HL7 v2 escape sequences (HL7 v2.5.1 section 2.7) in one field, component or subcomponent:
 * `\F\ \S\ \T\ \R\ \E\` become the delimiters, `\Xhh..\` becomes the bytes it encodes (read as UTF-8 when
 * valid, else ISO 8859-1), `\.br\` and `\.sp\` become line breaks. Highlighting (`\H\ \N\`), other
 * formatting commands, character set switches (`\C..\ \M..\`) and locally defined `\Z..\` sequences are
 * removed because plain FHIR text cannot carry them. An escape character without a closing one is kept.
 * @param raw - Text as it appears in the message.
 * @param encoding - The delimiters the text was encoded with.
 * @returns The decoded text.
 */
export function decodeEscapes(raw: string, encoding: EncodingCharacters = STANDARD_ENCODING): string {
  const escape = encoding.escape;
  if (!raw.includes(escape)) {
    return raw;
  }

  let decoded = '';
  let index = 0;
  while (index < raw.length) {
    const start = raw.indexOf(escape, index);
    if (start === -1) {
      decoded += raw.slice(index);
      break;
    }

    const end = raw.indexOf(escape, start + 1);
    if (end === -1) {
      decoded += raw.slice(index);
      break;
    }

    decoded += raw.slice(index, start);
    const body = raw.slice(start + 1, end);
    if (HEX_ESCAPE.test(body)) {
      // Back-to-back \Xhh\ sequences are decoded as one byte run, because one UTF-8 character may be
      // split across them (`\XC3\\XA9\` is "é").
      let hex = body.slice(1);
      let next = end + 1;
      while (raw.startsWith(`${escape}X`, next)) {
        const nextEnd = raw.indexOf(escape, next + 1);
        const nextBody = nextEnd === -1 ? '' : raw.slice(next + 1, nextEnd);
        if (!HEX_ESCAPE.test(nextBody)) {
          break;
        }
        hex += nextBody.slice(1);
        next = nextEnd + 1;
      }
      decoded += decodeHex(hex);
      index = next;
      continue;
    }
    decoded += decodeSequence(body, encoding);
    index = end + 1;
  }
  return decoded;
}

function decodeSequence(body: string, encoding: EncodingCharacters): string {
  switch (body) {
    case 'F':
      return encoding.field;
    case 'S':
      return encoding.component;
    case 'T':
      return encoding.subcomponent;
    case 'R':
      return encoding.repetition;
    case 'E':
      return encoding.escape;
    case 'P':
      // \P\ is the truncation character (v2.7).
      return encoding.truncation ?? '';
    case 'H':
    case 'N':
      return '';
    default:
      break;
  }

  if (body === '.br' || /^\.sp\s*\d*$/.test(body)) {
    return '\n';
  }
  if (body.startsWith('.') || body.startsWith('C') || body.startsWith('M') || body.startsWith('Z')) {
    return '';
  }

  // Not a known escape: keep the text as sent rather than guess.
  return `${encoding.escape}${body}${encoding.escape}`;
}

function decodeHex(hex: string): string {
  const bytes = Buffer.from(hex, 'hex');
  const utf8 = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  return utf8.includes('\uFFFD') ? bytes.toString('latin1') : utf8;
}

const STANDARD_ESCAPES: Record<string, string> = {
  '|': '\\F\\',
  '^': '\\S\\',
  '&': '\\T\\',
  '~': '\\R\\',
  '\\': '\\E\\',
};

/**
 * Encodes text for a field of a message that uses the standard delimiters, escaping each delimiter.
 * CR and LF become `\X0D\` and `\X0A\` so they cannot end the segment.
 * @param text - Plain text.
 * @returns The escaped text.
 */
export function encodeEscapes(text: string): string {
  return text.replace(/[|^&~\\\r\n]/g, (char) => {
    if (char === '\r') {
      return '\\X0D\\';
    }
    if (char === '\n') {
      return '\\X0A\\';
    }
    return STANDARD_ESCAPES[char] ?? char;
  });
}
