import { UTF8_BOM_BYTES, hasUtf8Bom } from '../hl7/charset.js';
import { toStandardDelimiters } from '../hl7/delimiters.js';
import { STANDARD_ENCODING, parseEncodingCharacters } from '../hl7/encoding.js';
import { ERROR_CODES, type Hl7Issue } from '../hl7/hl7-error.js';

/** Envelope segments of the HL7 v2 batch protocol (HL7 v2.5.1 chapter 2, batch protocol). */
const ENVELOPE_SEGMENTS = new Set(['FHS', 'BHS', 'BTS', 'FTS']);

/** An envelope header (FHS or BHS) with its fields in standard delimiters; fields[n] is FHS-n/BHS-n. */
export interface EnvelopeHeader {
  fields: string[];
}

/** A frame holding a batch file, a batch or several concatenated messages. */
export interface SplitBatch {
  kind: 'batch';
  fileHeader?: EnvelopeHeader;
  batchHeader?: EnvelopeHeader;
  /** Raw bytes of each contained message, MSH first, with its original segment terminators. */
  messages: Buffer[];
  /** Envelope problems (missing trailer, count mismatch, stray segments); the messages are still processed. */
  issues: Hl7Issue[];
}

/** The result of {@link splitFrame}: one plain message, or a batch. */
export type SplitFrame = { kind: 'single' } | SplitBatch;

interface Line {
  name: string;
  start: number;
  end: number;
}

/**
 * Splits a frame into lines on CR and LF. Both are single bytes in ASCII, ISO 8859-1 and UTF-8, so the
 * split happens on bytes, before each message is decoded with its own MSH-18.
 */
function splitLines(payload: Buffer): Line[] {
  const lines: Line[] = [];
  let start = hasUtf8Bom(payload) ? UTF8_BOM_BYTES : 0;
  for (let index = 0; index <= payload.length; index += 1) {
    const byte = payload[index];
    if (index === payload.length || byte === 0x0d || byte === 0x0a) {
      const text = payload.subarray(start, index).toString('latin1');
      if (text.trim() !== '') {
        lines.push({ name: text.slice(0, 3), start, end: index });
      }
      start = index + 1;
    }
  }
  return lines;
}

function envelopeFields(payload: Buffer, line: Line): string[] {
  const text = payload.subarray(line.start, line.end).toString('latin1');
  const encoding = parseEncodingCharacters(text.charAt(3), text.slice(4).split(text.charAt(3))[0] ?? '');
  const standard = 'invalid' in encoding ? text : (toStandardDelimiters([text], encoding)[0] ?? text);
  const parts = standard.split(STANDARD_ENCODING.field);
  return [line.name, STANDARD_ENCODING.field, ...parts.slice(1)];
}

function readCount(payload: Buffer, line: Line): string {
  const text = payload.subarray(line.start, line.end).toString('latin1');
  return (text.split(text.charAt(3) || '|')[1] ?? '').split('^')[0]?.trim() ?? '';
}

function envelopeIssue(segment: string, sequence: number, field: number | undefined, text: string): Hl7Issue {
  return {
    ackCode: 'AE',
    errorCode: field === undefined ? ERROR_CODES.segmentSequenceError : ERROR_CODES.dataTypeError,
    location:
      field === undefined
        ? { segment, segmentSequence: sequence }
        : { segment, segmentSequence: sequence, field },
    text,
  };
}

/**
 * Splits one MLLP frame into messages when it contains a batch (FHS/BHS envelope) or several messages
 * concatenated without envelope. Lines starting with MSH begin a new message and FHS, BHS, BTS and FTS are
 * envelope. The envelope is checked (BHS needs BTS, FHS needs FTS, BTS-1 and FTS-1 counts) but problems
 * only produce issues, so no contained message is dropped.
 * @param payload - The frame bytes.
 * @returns `single` for a frame with at most one MSH and no envelope, otherwise the split batch.
 */
export function splitFrame(payload: Buffer): SplitFrame {
  const lines = splitLines(payload);
  const mshCount = lines.filter((line) => line.name === 'MSH').length;
  const hasEnvelope = lines.some((line) => ENVELOPE_SEGMENTS.has(line.name));
  if (!hasEnvelope && mshCount <= 1) {
    return { kind: 'single' };
  }

  const batch: SplitBatch = { kind: 'batch', messages: [], issues: [] };
  const seen = new Map<string, number>();
  let messageStart: number | undefined;
  let messageEnd = 0;
  let openBatch: { messages: number } | undefined;
  let openFile: { batches: number } | undefined;

  const closeMessage = (): void => {
    if (messageStart !== undefined) {
      batch.messages.push(payload.subarray(messageStart, messageEnd));
      messageStart = undefined;
    }
  };

  for (const line of lines) {
    const sequence = (seen.get(line.name) ?? 0) + 1;
    seen.set(line.name, sequence);

    if (line.name === 'MSH') {
      closeMessage();
      messageStart = line.start;
      messageEnd = line.end;
      if (openBatch !== undefined) {
        openBatch.messages += 1;
      }
      continue;
    }
    if (!ENVELOPE_SEGMENTS.has(line.name)) {
      if (messageStart === undefined) {
        batch.issues.push(
          envelopeIssue(
            line.name,
            sequence,
            undefined,
            `Segment ${line.name} appears outside any message and was ignored`
          )
        );
      } else {
        // Keep the terminators between segments: the slice runs to the end of this line.
        messageEnd = line.end;
      }
      continue;
    }

    closeMessage();
    if (line.name === 'FHS') {
      batch.fileHeader ??= { fields: envelopeFields(payload, line) };
      openFile = { batches: 0 };
    } else if (line.name === 'BHS') {
      batch.batchHeader ??= { fields: envelopeFields(payload, line) };
      if (openBatch !== undefined) {
        batch.issues.push(
          envelopeIssue(
            'BHS',
            sequence,
            undefined,
            'BHS starts a batch before the previous batch ended with BTS'
          )
        );
      }
      openBatch = { messages: 0 };
      if (openFile !== undefined) {
        openFile.batches += 1;
      }
    } else if (line.name === 'BTS') {
      const declared = readCount(payload, line);
      const counted = openBatch?.messages ?? batch.messages.length;
      if (openBatch === undefined) {
        batch.issues.push(envelopeIssue('BTS', sequence, undefined, 'BTS appears without a BHS'));
      }
      if (declared !== '' && declared !== String(counted)) {
        batch.issues.push(
          envelopeIssue(
            'BTS',
            sequence,
            1,
            `BTS-1 batch message count is ${declared} but the batch contains ${counted} messages`
          )
        );
      }
      openBatch = undefined;
    } else {
      const declared = readCount(payload, line);
      const counted = openFile?.batches ?? 0;
      if (openBatch !== undefined) {
        batch.issues.push(
          envelopeIssue('FTS', sequence, undefined, 'FTS appears before the batch ended with BTS')
        );
        openBatch = undefined;
      }
      if (declared !== '' && declared !== String(counted)) {
        batch.issues.push(
          envelopeIssue(
            'FTS',
            sequence,
            1,
            `FTS-1 file batch count is ${declared} but the file contains ${counted} batches`
          )
        );
      }
      openFile = undefined;
    }
  }
  closeMessage();

  if (openBatch !== undefined) {
    batch.issues.push(envelopeIssue('BTS', 1, undefined, 'Batch trailer BTS is missing'));
  }
  if (openFile !== undefined) {
    batch.issues.push(envelopeIssue('FTS', 1, undefined, 'File trailer FTS is missing'));
  }
  return batch;
}
