import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import type { Logger } from '@monitormed/common';
import { ERROR_CODES, Hl7ProcessingError, type Hl7Issue } from '../hl7/hl7-error.js';
import { decodeMessageBytes } from '../hl7/charset.js';
import { parseMessage, type Hl7Message } from '../hl7/message.js';
import type { WorkMessage } from '../store/message-types.js';
import { FhirTransactionError } from './fhir-transaction-error.js';
import { writeResults, type FhirWriterDependencies, type WriteOptions } from './fhir-writer.js';
import { isTransientFailure } from './retry-policy.js';

/** Outcome of one processing attempt of a stored message. */
export type AttemptOutcome =
  | { kind: 'processed'; resourceIds: string[] }
  /** Failed for good: the same bytes would fail the same way. */
  | { kind: 'permanent'; issues: Hl7Issue[] }
  /** May succeed later: FHIR unreachable, HTTP 408/429/5xx, a MongoDB error. */
  | { kind: 'transient'; error: string };

/**
 * Checks MSH-9: the listener accepts ORU^R01 only.
 * @throws Hl7ProcessingError (AR) naming MSH-9 and the table 0357 code.
 */
export function checkMessageType(message: Hl7Message): void {
  const { code, trigger } = message.header.messageType;
  const location = { segment: 'MSH', segmentSequence: 1, field: 9 };
  if (code !== 'ORU') {
    throw new Hl7ProcessingError({
      ackCode: 'AR',
      errorCode: ERROR_CODES.unsupportedMessageType,
      location,
      text: `Message type ${code} is not supported; this listener accepts ORU^R01 only`,
    });
  }
  // v2.3 and older senders may send MSH-9 `ORU` alone; R01 is the only unsolicited ORU event there.
  if (trigger !== 'R01' && trigger !== '') {
    throw new Hl7ProcessingError({
      ackCode: 'AR',
      errorCode: ERROR_CODES.unsupportedEventCode,
      location: { ...location, component: 2 },
      text: `Trigger event ${trigger} is not supported; expected ORU^R01`,
    });
  }
}

/**
 * Turns the conditional creates of a result transaction into conditional updates (`PUT
 * Observation?identifier=...`), so a correction replaces the values of the resources an earlier version
 * of the message created. Devices and Patients keep their conditional create, because a correction of a
 * result does not change the model or the patient record.
 */
export function asConditionalUpdates(bundle: Bundle): Bundle {
  const updatable = new Set(['Observation', 'DiagnosticReport']);
  const entry = (bundle.entry ?? []).map((item): BundleEntry => {
    const request = item.request;
    const resourceType = item.resource?.resourceType ?? '';
    if (request?.method !== 'POST' || request.ifNoneExist === undefined || !updatable.has(resourceType)) {
      return item;
    }
    return { ...item, request: { method: 'PUT', url: `${resourceType}?${request.ifNoneExist}` } };
  });
  return { ...bundle, entry };
}

/** A stored message decoded and parsed, ready to be mapped, or the outcome that ends its attempt. */
export type PreparedMessage =
  { kind: 'parsed'; message: Hl7Message } | { kind: 'finished'; outcome: AttemptOutcome };

/**
 * Decodes a stored message with MSH-18, parses it and checks its type.
 * @returns The parsed message, or the permanent outcome of a message that cannot be processed.
 */
export function prepareStoredMessage(document: WorkMessage, logger?: Logger): PreparedMessage {
  if (document.truncated === true) {
    return {
      kind: 'finished',
      outcome: {
        kind: 'permanent',
        issues: [
          {
            ackCode: 'AR',
            errorCode: ERROR_CODES.applicationInternalError,
            text: 'Only the head of this oversized message was stored, so it cannot be processed',
          },
        ],
      },
    };
  }
  // A message whose bytes do not match MSH-18 is kept but not mapped, so no garbled text reaches FHIR.
  const decoded = decodeMessageBytes(Buffer.from(document.rawBase64, 'base64'));
  if (decoded.issue !== undefined) {
    return { kind: 'finished', outcome: { kind: 'permanent', issues: [decoded.issue] } };
  }
  try {
    const message = parseMessage(decoded.text);
    checkMessageType(message);
    return { kind: 'parsed', message };
  } catch (err) {
    return {
      kind: 'finished',
      outcome: outcomeOfError(logger === undefined ? undefined : { logger }, document, err),
    };
  }
}

/**
 * Classifies an error thrown while processing a message into the outcome of its attempt.
 * @param deps - Where to log an unexpected error; undefined where none can occur.
 */
export function outcomeOfError(
  deps: Pick<FhirWriterDependencies, 'logger'> | undefined,
  document: Pick<WorkMessage, 'controlId'>,
  err: unknown
): AttemptOutcome {
  if (err instanceof Hl7ProcessingError || err instanceof FhirTransactionError) {
    return isTransientFailure(err)
      ? { kind: 'transient', error: err.issue.text }
      : { kind: 'permanent', issues: [err.issue] };
  }
  if (isTransientFailure(err)) {
    deps?.logger.error({ err, controlId: document.controlId }, 'Unexpected error while processing a message');
    return { kind: 'transient', error: err instanceof Error ? err.message : String(err) };
  }
  return {
    kind: 'permanent',
    issues: [
      {
        ackCode: 'AE',
        errorCode: ERROR_CODES.applicationInternalError,
        text: 'Internal error while processing the message',
      },
    ],
  };
}

/** Returns the options that make a correction (version 2 and later) update the resources of the earlier version. */
export function writeOptionsOf(document: Pick<WorkMessage, 'version'>): WriteOptions {
  return { transform: document.version > 1 ? asConditionalUpdates : undefined };
}

/**
 * Runs one processing attempt of a stored message from its stored bytes: decode with MSH-18, parse,
 * check the type and write the results to FHIR. Corrections (version 2 and later) update the resources
 * of the earlier version instead of creating new ones.
 * @returns The outcome; it never throws.
 */
export async function processStoredMessage(
  deps: FhirWriterDependencies,
  document: WorkMessage
): Promise<AttemptOutcome> {
  const prepared = prepareStoredMessage(document, deps.logger);
  if (prepared.kind === 'finished') {
    return prepared.outcome;
  }
  try {
    const resourceIds = await writeResults(
      deps,
      prepared.message,
      document.receivedAt,
      writeOptionsOf(document)
    );
    return { kind: 'processed', resourceIds };
  } catch (err) {
    return outcomeOfError(deps, document, err);
  }
}
