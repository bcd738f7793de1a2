import { ERROR_CODES, Hl7ProcessingError } from '../hl7/hl7-error.js';
import type { Hl7Segment } from '../hl7/segment.js';

/** One OBX with the NTE segments that follow it. */
export interface ResultItem {
  obx: Hl7Segment;
  notes: Hl7Segment[];
}

/** One OBR (ORU^R01 ORDER_OBSERVATION group) with its notes and results, and the PID it belongs to. */
export interface OrderGroup {
  pid: Hl7Segment;
  /** The ORC right before the OBR, when the sender includes one. */
  orc?: Hl7Segment;
  obr: Hl7Segment;
  notes: Hl7Segment[];
  results: ResultItem[];
}

/**
 * Splits an ORU^R01 into order groups following the message structure
 * PID ... { [ORC] OBR {NTE} { OBX {NTE} } }, where PID may repeat for several patients.
 * Segments that the mapping does not use (PV1, SPM, Z-segments...) are skipped, so Z-segments stay in
 * the stored message but are not mapped.
 * @param segments - The parsed segments.
 * @returns The order groups in message order.
 * @throws Hl7ProcessingError (AR, ERR 100) when OBR comes before any PID, OBX before any OBR, or no OBR exists.
 */
export function groupResults(segments: Hl7Segment[]): OrderGroup[] {
  const groups: OrderGroup[] = [];
  let pid: Hl7Segment | undefined;
  let group: OrderGroup | undefined;
  let lastResult: ResultItem | undefined;
  let orc: Hl7Segment | undefined;

  for (const segment of segments) {
    switch (segment.name) {
      case 'PID':
        pid = segment;
        group = undefined;
        lastResult = undefined;
        orc = undefined;
        break;
      case 'ORC':
        orc = segment;
        break;
      case 'OBR':
        if (pid === undefined) {
          throw sequenceError(segment, 'OBR must follow a PID segment');
        }
        group =
          orc === undefined
            ? { pid, obr: segment, notes: [], results: [] }
            : { pid, orc, obr: segment, notes: [], results: [] };
        groups.push(group);
        lastResult = undefined;
        orc = undefined;
        break;
      case 'OBX':
        if (group === undefined) {
          throw sequenceError(segment, 'OBX must follow an OBR segment');
        }
        lastResult = { obx: segment, notes: [] };
        group.results.push(lastResult);
        break;
      case 'NTE':
        if (lastResult !== undefined) {
          lastResult.notes.push(segment);
        } else if (group !== undefined) {
          group.notes.push(segment);
        }
        break;
      default:
        break;
    }
  }

  if (groups.length === 0) {
    throw new Hl7ProcessingError({
      ackCode: 'AR',
      errorCode: ERROR_CODES.segmentSequenceError,
      location: { segment: 'OBR', segmentSequence: 1 },
      text: 'ORU^R01 must contain at least one PID followed by an OBR segment',
    });
  }
  return groups;
}

function sequenceError(segment: Hl7Segment, text: string): Hl7ProcessingError {
  return new Hl7ProcessingError({
    ackCode: 'AR',
    errorCode: ERROR_CODES.segmentSequenceError,
    location: { segment: segment.name, segmentSequence: segment.occurrence },
    text,
  });
}
