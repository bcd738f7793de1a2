/**
 * HL7 table 0357 (message error condition codes) values the listener sends in ERR-3.
 * https://terminology.hl7.org/CodeSystem-v2-0357.html
 */
export const ERROR_CODES = {
  segmentSequenceError: '100',
  requiredFieldMissing: '101',
  dataTypeError: '102',
  tableValueNotFound: '103',
  unsupportedMessageType: '200',
  unsupportedEventCode: '201',
  unsupportedProcessingId: '202',
  unsupportedVersionId: '203',
  unknownKeyIdentifier: '204',
  duplicateKeyIdentifier: '205',
  applicationInternalError: '207',
} as const;

/** A code of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** Text of each code, sent as ERR-3.2 (HL7 table 0357 display names). */
export const ERROR_CODE_TEXT: Record<ErrorCode, string> = {
  '100': 'Segment sequence error',
  '101': 'Required field missing',
  '102': 'Data type error',
  '103': 'Table value not found',
  '200': 'Unsupported message type',
  '201': 'Unsupported event code',
  '202': 'Unsupported processing id',
  '203': 'Unsupported version id',
  '204': 'Unknown key identifier',
  '205': 'Duplicate key identifier',
  '207': 'Application internal error',
};

/** ERR-2 error location (ERL data type): segment id, segment sequence and field position. */
export interface ErrorLocation {
  segment: string;
  /** 1-based occurrence of the segment in the message. */
  segmentSequence: number;
  field?: number;
  component?: number;
}

/** One problem found in a message, as the ACK reports it. */
export interface Hl7Issue {
  /** AE: the message was valid but could not be processed; AR: the message was rejected as invalid or unsupported. */
  ackCode: 'AE' | 'AR';
  errorCode: ErrorCode;
  location?: ErrorLocation;
  /** Human-readable reason for ERR-8; never contains patient data. */
  text: string;
}

/** Thrown by validation and mapping when a message cannot be accepted; the listener turns it into an AE or AR. */
export class Hl7ProcessingError extends Error {
  readonly issue: Hl7Issue;

  constructor(issue: Hl7Issue) {
    super(issue.text);
    this.name = 'Hl7ProcessingError';
    this.issue = issue;
  }
}
