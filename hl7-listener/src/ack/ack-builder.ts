import { randomUUID } from 'node:crypto';
import { encodeEscapes } from '../hl7/escape.js';
import { ERROR_CODE_TEXT, type Hl7Issue } from '../hl7/hl7-error.js';

/**
 * Acknowledgment codes of HL7 table 0008: AA/AE/AR for original-mode and application ACKs, CA/CE/CR for
 * enhanced-mode accept ACKs.
 */
export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';

/** Input of {@link buildAck}. */
export interface AckInput {
  code: AckCode;
  /** MSH fields of the original message by sequence number, in standard delimiters (from `peekHeader`). */
  originalHeader: string[];
  /** Problems to report, one ERR segment each; empty for AA. */
  issues: Hl7Issue[];
  /** MSH-10 of the ACK; a new id by default. */
  controlId?: string;
  /** MSH-7 of the ACK. */
  timestamp?: Date;
}

/** Version used in MSH-12 when the original message has none. */
const DEFAULT_VERSION = '2.5.1';

/**
 * Formats a time as an HL7 DTM in UTC, for example `20260314093000+0000`.
 * @param date - The time.
 * @returns The DTM text.
 */
export function formatHl7Timestamp(date: Date): string {
  const iso = date.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}+0000`;
}

/**
 * Builds the reply header fields 2 to 6 of MSH, FHS or BHS: the standard encoding characters, then the
 * request's receiving application and facility as sender and its sending ones as receiver, copied as-is.
 * @param field - Reads a field of the request header by its sequence number.
 * @returns The five field values.
 */
export function swappedPartyFields(field: (sequence: number) => string): string[] {
  return ['^~\\&', field(5), field(6), field(3), field(4)];
}

/**
 * Builds a new control id of at most 20 characters, the HL7 v2.5.1 length of MSH-10.
 * @returns Random hexadecimal digits.
 */
export function newControlId(): string {
  return randomUUID().replace(/-/g, '').slice(0, 20);
}

/**
 * Builds an ACK (HL7 v2.5.1 section 2.9.2), also used for enhanced-mode accept ACKs: MSH with sender and receiver swapped,
 * MSA with the code and the original MSH-10, and one ERR per issue. Every segment ends with CR.
 * https://www.hl7.eu/HL7v2x/v251/std251/ch02.html#Heading141
 * @param input - Code, original header and issues.
 * @returns The ACK text, without MLLP framing.
 */
export function buildAck(input: AckInput): string {
  const original = input.originalHeader;
  const field = (sequence: number): string => original[sequence] ?? '';
  const trigger = field(9).split('^')[1] ?? '';
  const messageType = trigger === '' ? 'ACK' : `ACK^${trigger}^ACK`;
  const controlId = input.controlId ?? newControlId();
  const timestamp = formatHl7Timestamp(input.timestamp ?? new Date());
  const processingId = field(11) === '' ? 'P' : field(11);
  const version = field(12) === '' ? DEFAULT_VERSION : field(12);

  const msh = [
    'MSH',
    ...swappedPartyFields(field),
    timestamp,
    '',
    messageType,
    controlId,
    processingId,
    version,
  ].join('|');
  const firstText = input.issues[0]?.text ?? '';
  const msa = ['MSA', input.code, field(10), encodeEscapes(firstText)].join('|');
  const errors = input.issues.map((issue) => buildErr(issue));
  return [msh, msa, ...errors].map((segment) => `${segment}\r`).join('');
}

/**
 * Builds one ERR segment: ERR-1 (for receivers before v2.5), ERR-2 location, ERR-3 table 0357 code,
 * ERR-4 severity E and ERR-8 user message.
 * @param issue - The problem to report.
 * @returns The segment text without terminator.
 */
export function buildErr(issue: Hl7Issue): string {
  const location = issue.location;
  const erl =
    location === undefined
      ? ''
      : [location.segment, location.segmentSequence, location.field ?? '', '', location.component ?? '']
          .join('^')
          .replace(/\^+$/, '');
  const codeText = ERROR_CODE_TEXT[issue.errorCode];
  const cwe = `${issue.errorCode}^${codeText}^HL70357`;
  const eld =
    location === undefined
      ? ''
      : [
          location.segment,
          location.segmentSequence,
          location.field ?? '',
          `${issue.errorCode}&${codeText}&HL70357`,
        ].join('^');
  return ['ERR', eld, erl, cwe, 'E', '', '', '', encodeEscapes(issue.text)].join('|');
}
