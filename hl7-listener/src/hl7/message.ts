import HL7 from 'hl7-standard';
import { toStandardDelimiters } from './delimiters.js';
import { STANDARD_ENCODING, parseEncodingCharacters, type EncodingCharacters } from './encoding.js';
import { ERROR_CODES, Hl7ProcessingError } from './hl7-error.js';
import { normalizeVersionId } from './version.js';
import {
  textValue,
  type Hl7Component,
  type Hl7Field,
  type Hl7Repetition,
  type Hl7Segment,
} from './segment.js';

/** MSH-9 message type (MSG data type). */
export interface MessageType {
  code: string;
  trigger: string;
  structure: string;
}

/** The MSH fields the listener routes on and echoes in the ACK. */
export interface MessageHeader {
  /** MSH-3 to MSH-6 as received (in standard delimiters), copied as-is into the ACK. */
  sendingApplicationField: string;
  sendingFacilityField: string;
  receivingApplicationField: string;
  receivingFacilityField: string;
  /** MSH-3.1 and MSH-4.1 decoded (MSH-4.2 when 4.1 is empty), used for model matching and identifiers. */
  sendingApplication: string;
  sendingFacility: string;
  messageType: MessageType;
  controlId: string;
  /** MSH-11 processing id field as received. */
  processingIdField: string;
  /** MSH-12 version id field as received. */
  versionIdField: string;
  /** MSH-12.1 normalized to `2.x` or `2.x.y`. */
  version: string;
}

/** A parsed message in standard delimiters. */
export interface Hl7Message {
  /** Delimiters the message declared; segments have been rewritten to the standard ones. */
  declaredEncoding: EncodingCharacters;
  segments: Hl7Segment[];
  header: MessageHeader;
}

/** MSH fields read even from an invalid message, for the ACK and the store. */
export interface HeaderPeek {
  /** MSH fields by sequence number in standard delimiters; [0] is unused. Empty when there is no MSH. */
  fields: string[];
}

const SEGMENT_ID = /^[A-Z][A-Z0-9]{2}$/;

/**
 * Splits message text into segments, accepting CR, LF and CRLF terminators and skipping empty lines.
 * @param text - The message text.
 * @returns Segment strings without terminators.
 */
export function splitSegments(text: string): string[] {
  return text.split(/\r\n|\r|\n/).filter((line) => line.trim() !== '');
}

/**
 * Reads MSH-1 and MSH-2 of the first segment.
 * @param segments - Segments from {@link splitSegments}.
 * @returns The declared delimiters.
 * @throws Hl7ProcessingError (AR) when the message does not start with MSH or its delimiters are invalid.
 */
export function readEncoding(segments: string[]): EncodingCharacters {
  const msh = segments[0] ?? '';
  if (!msh.startsWith('MSH')) {
    throw new Hl7ProcessingError({
      ackCode: 'AR',
      errorCode: ERROR_CODES.segmentSequenceError,
      location: { segment: 'MSH', segmentSequence: 1 },
      text: 'Message must start with an MSH segment',
    });
  }

  const fieldSeparator = msh.charAt(3);
  const msh2End = msh.indexOf(fieldSeparator, 4);
  const msh2 = msh.slice(4, msh2End === -1 ? msh.length : msh2End);
  const encoding = parseEncodingCharacters(fieldSeparator, msh2);
  if ('invalid' in encoding) {
    const field = encoding.invalid.startsWith('MSH-1') ? 1 : 2;
    throw new Hl7ProcessingError({
      ackCode: 'AR',
      errorCode: ERROR_CODES.dataTypeError,
      location: { segment: 'MSH', segmentSequence: 1, field },
      text: encoding.invalid,
    });
  }
  return encoding;
}

/**
 * Reads the MSH fields of a message as far as they can be read, for ACKs of invalid messages.
 * Falls back to the standard delimiters when MSH-1/MSH-2 are invalid.
 * @param text - The message text.
 * @returns The MSH fields, numbered as in the standard.
 */
export function peekHeader(text: string): HeaderPeek {
  const segments = splitSegments(text);
  const first = segments[0] ?? '';
  if (!first.startsWith('MSH')) {
    return { fields: [] };
  }

  let standardMsh = first;
  try {
    standardMsh = toStandardDelimiters([first], readEncoding(segments))[0] ?? first;
  } catch {
    // Invalid delimiters: read the fields with the standard separator, which most senders use.
  }
  const parts = standardMsh.split(STANDARD_ENCODING.field);
  return { fields: ['MSH', STANDARD_ENCODING.field, ...parts.slice(1)] };
}

/**
 * Parses and validates a message: delimiters, segment ids, MSH-9 and MSH-10.
 * @param text - The message text (one message, no MLLP framing).
 * @returns The parsed message in standard delimiters.
 * @throws Hl7ProcessingError (AR) describing the first structural problem found.
 */
export function parseMessage(text: string): Hl7Message {
  const lines = splitSegments(text.replace(/^\uFEFF/, ''));
  const declaredEncoding = readEncoding(lines);
  const rawSegments = joinStrayLines(lines, declaredEncoding);
  const segments = toStandardDelimiters(rawSegments, declaredEncoding).map((segment, index) => {
    const name = segment.slice(0, 3);
    if (!SEGMENT_ID.test(name) || (segment.length > 3 && segment.charAt(3) !== STANDARD_ENCODING.field)) {
      throw new Hl7ProcessingError({
        ackCode: 'AR',
        errorCode: ERROR_CODES.segmentSequenceError,
        location: { segment: SEGMENT_ID.test(name) ? name : 'MSH', segmentSequence: 1 },
        text: `Segment ${index + 1} does not start with a valid segment id followed by the field separator`,
      });
    }
    // hl7-standard skips lines without a field separator, so give empty segments one.
    return segment.length === 3 ? `${segment}|` : segment;
  });

  const parsed = parseWithHl7Standard(segments);
  const header = readHeader(parsed);
  return { declaredEncoding, segments: parsed, header };
}

/**
 * Tells whether a line starts like a segment: a letter and up to two letters or digits, then the field
 * separator or the line end. A short id such as `I|` is a damaged segment, not text, so it stays a line
 * and is rejected.
 */
function looksLikeSegment(line: string, fieldSeparator: string): boolean {
  // Leading spaces are skipped so that an indented segment is rejected as one, not merged as text.
  const trimmed = line.trimStart();
  const id = /^[A-Za-z][A-Za-z0-9]{0,2}/.exec(trimmed)?.[0] ?? '';
  return id !== '' && (trimmed.length === id.length || trimmed.charAt(id.length) === fieldSeparator);
}

/** Segments whose last fields carry free text (OBX-5 of TX/FT/ST, NTE-3), where stray line breaks occur. */
const FREE_TEXT_SEGMENTS = new Set(['OBX', 'NTE']);

/**
 * Joins lines that cannot start a segment to the line before them.
 *
 * A sender that puts a bare CR or LF inside a field (a line break in a comment, typically) splits the
 * segment in two, and the second half then starts with field text. HL7 v2 requires such a break to be
 * sent as `\.br\` or `\X0D\`, so the listener restores it as `\.br\`: the segment keeps its fields
 * and text values get their line break back. Only a line after an OBX or NTE is joined, since other
 * segments carry no free text and a merged line would silently move its fields into them. A line that
 * starts like a segment id stays a segment.
 */
function joinStrayLines(lines: string[], encoding: EncodingCharacters): string[] {
  const joined: string[] = [];
  const lineBreak = `${encoding.escape}.br${encoding.escape}`;
  for (const line of lines) {
    const previous = joined.at(-1);
    if (
      previous !== undefined &&
      FREE_TEXT_SEGMENTS.has(previous.slice(0, 3)) &&
      !looksLikeSegment(line, encoding.field)
    ) {
      joined[joined.length - 1] = `${previous}${lineBreak}${line}`;
    } else {
      joined.push(line);
    }
  }
  return joined;
}

function parseWithHl7Standard(segments: string[]): Hl7Segment[] {
  const library = new HL7(`${segments.join('\r')}\r`, {
    subComponents: STANDARD_ENCODING.repetition,
    repeatingFields: STANDARD_ENCODING.subcomponent,
    lineEndings: '\r',
  });
  try {
    library.transform();
  } catch (err) {
    throw new Hl7ProcessingError({
      ackCode: 'AR',
      errorCode: ERROR_CODES.segmentSequenceError,
      text: `Message structure could not be parsed: ${(err as Error).message}`,
    });
  }

  const occurrences = new Map<string, number>();
  return [...library.getSegments()]
    .sort((a, b) => a.index - b.index)
    .map((segment) => {
      const occurrence = (occurrences.get(segment.type) ?? 0) + 1;
      occurrences.set(segment.type, occurrence);
      return { name: segment.type, fields: toFields(segment), occurrence };
    });
}

function toFields(segment: HL7.Segment): Hl7Field[] {
  const fields: Hl7Field[] = [[]];
  const firstField = segment.type === 'MSH' ? 2 : 1;
  if (segment.type === 'MSH') {
    fields.push([[[STANDARD_ENCODING.field]]]);
  }

  const positions = Object.keys(segment.data).map((key) => Number(key.split('.')[1]));
  const lastField = Math.max(firstField - 1, ...positions);
  for (let position = firstField; position <= lastField; position += 1) {
    fields[position] = toField(segment.data[`${segment.type}.${position}`]);
  }
  if (segment.type === 'MSH') {
    // hl7-standard overwrites MSH.2 with the default encoding characters; the rewrite made that true.
    fields[2] = [
      [
        [
          `${STANDARD_ENCODING.component}${STANDARD_ENCODING.repetition}${STANDARD_ENCODING.escape}${STANDARD_ENCODING.subcomponent}`,
        ],
      ],
    ];
  }
  return fields;
}

function toField(value: HL7.FieldValue | undefined): Hl7Field {
  if (value === undefined) {
    return [[['']]];
  }
  if (typeof value === 'string') {
    return [[[value]]];
  }
  if (!Array.isArray(value)) {
    return [toRepetition(value)];
  }
  if (value.every((item): item is string => typeof item === 'string')) {
    // An array of strings is the subcomponents of a field with neither components nor repetitions.
    return [[value]];
  }
  return value.map((item) => (typeof item === 'string' ? [[item]] : toRepetition(item)));
}

function toRepetition(components: HL7.ComponentMap): Hl7Repetition {
  const keys = Object.keys(components).sort((a, b) => Number(a.split('.')[2]) - Number(b.split('.')[2]));
  return keys.map((key): Hl7Component => {
    const component = components[key] ?? '';
    return typeof component === 'string' ? [component] : component;
  });
}

function readHeader(segments: Hl7Segment[]): MessageHeader {
  const msh = segments[0];
  if (msh?.name !== 'MSH') {
    throw new Hl7ProcessingError({
      ackCode: 'AR',
      errorCode: ERROR_CODES.segmentSequenceError,
      text: 'Message must start with an MSH segment',
    });
  }

  const messageType: MessageType = {
    code: textValue(msh, 9, 1),
    trigger: textValue(msh, 9, 2),
    structure: textValue(msh, 9, 3),
  };
  const controlId = textValue(msh, 10);
  const header: MessageHeader = {
    sendingApplicationField: rawField(msh, 3),
    sendingFacilityField: rawField(msh, 4),
    receivingApplicationField: rawField(msh, 5),
    receivingFacilityField: rawField(msh, 6),
    sendingApplication: textValue(msh, 3, 1) || textValue(msh, 3, 2),
    sendingFacility: textValue(msh, 4, 1) || textValue(msh, 4, 2),
    messageType,
    controlId,
    processingIdField: rawField(msh, 11),
    versionIdField: rawField(msh, 12),
    version: '',
  };

  if (messageType.code === '') {
    throw new Hl7ProcessingError({
      ackCode: 'AR',
      errorCode: ERROR_CODES.requiredFieldMissing,
      location: { segment: 'MSH', segmentSequence: 1, field: 9 },
      text: 'MSH-9 message type is required but empty',
    });
  }
  if (controlId === '') {
    throw new Hl7ProcessingError({
      ackCode: 'AR',
      errorCode: ERROR_CODES.requiredFieldMissing,
      location: { segment: 'MSH', segmentSequence: 1, field: 10 },
      text: 'MSH-10 message control id is required but empty',
    });
  }
  return { ...header, version: normalizeVersionId(textValue(msh, 12, 1)) };
}

function rawField(segment: Hl7Segment, field: number): string {
  const value = segment.fields[field] ?? [];
  return value.map((repetition) => repetition.map((component) => component.join('&')).join('^')).join('~');
}
