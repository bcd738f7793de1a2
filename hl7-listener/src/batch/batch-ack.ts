import { buildErr, formatHl7Timestamp, newControlId, swappedPartyFields } from '../ack/ack-builder.js';
import type { Hl7Issue } from '../hl7/hl7-error.js';
import type { EnvelopeHeader } from './split.js';

/** Input of {@link buildBatchAck}. */
export interface BatchAckInput {
  /** FHS of the request; the reply has FHS/FTS only when the request had them. */
  fileHeader?: EnvelopeHeader;
  /** BHS of the request, or undefined for concatenated messages without envelope. */
  batchHeader?: EnvelopeHeader;
  /** MSH fields of the first contained message, used for BHS-3 to BHS-6 when there is no BHS. */
  firstMessageHeader: string[];
  /** One original-mode ACK per contained message, in order, each ending with CR. */
  acks: string[];
  /** Envelope problems, sent as ERR segments after BHS. */
  issues: Hl7Issue[];
  timestamp?: Date;
}

/**
 * Builds an envelope header of the reply: sender and receiver swapped, a new control id in field 11 and
 * the received control id (field 11 of the request) as reference control id in field 12.
 */
function replyHeader(
  name: 'FHS' | 'BHS',
  request: string[] | undefined,
  fallback: string[],
  timestamp: string
): string {
  const source = request ?? fallback;
  const field = (sequence: number): string => source[sequence] ?? '';
  const reference = request === undefined ? '' : field(11);
  return [name, ...swappedPartyFields(field), timestamp, '', '', '', newControlId(), reference]
    .join('|')
    .replace(/\|+$/, '');
}

/**
 * Builds the batch acknowledgment of the HL7 v2 batch protocol (v2.5.1 chapter 2): `[FHS] BHS {MSH MSA [ERR]} BTS [FTS]`,
 * with BHS-12 (reference batch control id) set to the received BHS-11 and BTS-1 the number of ACK
 * messages. Envelope problems go in ERR segments right after BHS, because the batch grammar has no
 * place of its own for them and each ACK message belongs to one contained message.
 * @returns The reply text without MLLP framing; every segment ends with CR.
 */
export function buildBatchAck(input: BatchAckInput): string {
  const timestamp = formatHl7Timestamp(input.timestamp ?? new Date());
  const segments: string[] = [];

  if (input.fileHeader !== undefined) {
    segments.push(replyHeader('FHS', input.fileHeader.fields, input.firstMessageHeader, timestamp));
  }
  segments.push(replyHeader('BHS', input.batchHeader?.fields, input.firstMessageHeader, timestamp));
  segments.push(...input.issues.map((issue) => buildErr(issue)));

  const header = segments.map((segment) => `${segment}\r`).join('');
  const trailer = [`BTS|${input.acks.length}`, ...(input.fileHeader === undefined ? [] : ['FTS|1'])]
    .map((segment) => `${segment}\r`)
    .join('');
  return `${header}${input.acks.join('')}${trailer}`;
}
