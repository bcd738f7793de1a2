import type { AiModelDefinition, FhirClient, Logger } from '@monitormed/common';
import type { ObjectId } from 'mongodb';
import { buildAck, type AckCode } from './ack/ack-builder.js';
import { handleBatch } from './batch/batch-handler.js';
import { splitFrame } from './batch/split.js';
import type { ListenerConfig } from './config.js';
import { decodeLenient, decodeMessageBytes } from './hl7/charset.js';
import { decodeEscapes } from './hl7/escape.js';
import { ERROR_CODES, Hl7ProcessingError, type Hl7Issue } from './hl7/hl7-error.js';
import { parseMessage, peekHeader, type Hl7Message } from './hl7/message.js';
import { countAck, type ListenerMetrics } from './metrics.js';
import type { InboundFrame, PeerInfo } from './mllp/server.js';
import { FhirTransactionError } from './pipeline/fhir-transaction-error.js';
import { writeResults } from './pipeline/fhir-writer.js';
import type { BatchLink, MessageStore, ReceivedMessage } from './store/message-store.js';

/** Dependencies of the message processor. */
export interface ProcessorDependencies {
  store: MessageStore;
  fhir: FhirClient;
  models: AiModelDefinition[];
  config: Pick<
    ListenerConfig,
    | 'createMissingPatients'
    | 'nonAiResults'
    | 'facilityTimeZone'
    | 'patientIdentifierSystems'
    | 'defaultPatientIdentifierSystem'
  >;
  logger: Logger;
  metrics: ListenerMetrics;
}

function firstComponent(field: string | undefined): string {
  return decodeEscapes((field ?? '').split('^')[0] ?? '').trim();
}

/** One message to store and process: a whole frame, a message split out of a batch, or an oversized head. */
export interface MessageInput {
  bytes: Buffer;
  /** Size of the message as received (larger than `bytes` for an oversized frame). */
  byteLength: number;
  peer: PeerInfo;
  /** Set when only the head of a frame larger than this many bytes was kept. */
  oversizedMaxBytes?: number;
  batch?: BatchLink;
}

/** Result of one message: the ACK text and the MSH fields it was built from. */
export interface MessageOutcome {
  ack: string;
  header: string[];
}

/**
 * Creates the frame handler. A frame with one message gets an original-mode ACK; a batch or several
 * concatenated messages get one batch ACK with an ACK message per contained message.
 */
export function createMessageProcessor(
  deps: ProcessorDependencies
): (frame: InboundFrame) => Promise<string> {
  const handleMessage = (input: MessageInput): Promise<MessageOutcome> => processMessage(deps, input);

  return async (frame) => {
    if (frame.kind === 'oversized') {
      const outcome = await handleMessage({
        bytes: frame.head,
        byteLength: frame.byteLength,
        peer: frame.peer,
        oversizedMaxBytes: frame.maxMessageBytes,
      });
      return outcome.ack;
    }

    const split = splitFrame(frame.payload);
    if (split.kind === 'single') {
      const outcome = await handleMessage({
        bytes: frame.payload,
        byteLength: frame.payload.length,
        peer: frame.peer,
      });
      return outcome.ack;
    }
    return handleBatch(split, frame.peer, handleMessage, deps.logger);
  };
}

/**
 * Stores one message, decodes it with its MSH-18 character set, validates and maps it, writes the FHIR
 * transaction and returns the ACK. Failures are caught and returned as an AE or AR with ERR segments.
 */
async function processMessage(deps: ProcessorDependencies, input: MessageInput): Promise<MessageOutcome> {
  const { logger, metrics } = deps;
  const receivedAt = new Date();
  // The head of an oversized frame may end inside a multi-byte character, so it is decoded leniently.
  const decoded =
    input.oversizedMaxBytes === undefined
      ? decodeMessageBytes(input.bytes)
      : { text: decodeLenient(input.bytes), charset: undefined };
  const text = decoded.text;
  const header = peekHeader(text).fields;
  const controlId = firstComponent(header[10]);
  const messageType = (header[9] ?? '').split('^').slice(0, 2).join('^');
  metrics.received.inc({ message_type: messageType === '' ? 'unknown' : messageType });

  const respond = (code: AckCode, issues: Hl7Issue[]): MessageOutcome => {
    countAck(metrics, code);
    return { ack: buildAck({ code, originalHeader: header, issues }), header };
  };

  const record: ReceivedMessage = {
    raw: text,
    rawBase64: input.bytes.toString('base64'),
    byteLength: input.byteLength,
    receivedAt,
    peer: input.peer,
    controlId,
    sendingApplication: firstComponent(header[3]),
    sendingFacility: firstComponent(header[4]),
    messageType,
    ...(decoded.charset === undefined ? {} : { charset: decoded.charset }),
    ...(input.oversizedMaxBytes === undefined ? {} : { truncated: true }),
    ...(input.batch === undefined ? {} : { batch: input.batch }),
  };

  let id: ObjectId;
  try {
    id = await deps.store.insertReceived(record);
  } catch (err) {
    logger.error({ err, controlId }, 'Failed to store message, so the ACK is AE and the sender must resend');
    return respond('AE', [
      {
        ackCode: 'AE',
        errorCode: ERROR_CODES.applicationInternalError,
        text: 'Message could not be stored; resend it later',
      },
    ]);
  }

  // A message whose bytes do not match MSH-18 is kept (with its raw bytes) but not mapped, so no
  // garbled text reaches the FHIR server.
  const issues =
    decoded.issue === undefined ? await processStored(deps, input, text, id, receivedAt) : [decoded.issue];
  if (issues.length === 0) {
    return respond('AA', []);
  }
  const code = issues.some((issue) => issue.ackCode === 'AR') ? 'AR' : 'AE';
  try {
    await deps.store.markNotAccepted(id, code === 'AR' ? 'rejected' : 'failed', code, issues);
  } catch (err) {
    logger.error({ err, controlId }, 'Failed to record the outcome of a stored message');
  }
  logger.info(
    { controlId, ackCode: code, errorCodes: issues.map((issue) => issue.errorCode) },
    'Message not accepted'
  );
  return respond(code, issues);
}

/** Processes a stored message; returns the issues that prevent an AA (empty on success). */
async function processStored(
  deps: ProcessorDependencies,
  input: MessageInput,
  text: string,
  id: ObjectId,
  receivedAt: Date
): Promise<Hl7Issue[]> {
  const { logger } = deps;
  if (input.oversizedMaxBytes !== undefined) {
    // Table 0357 has no code for an oversized message, so ERR-3 is 207 with the limit in ERR-8.
    return [
      {
        ackCode: 'AR',
        errorCode: ERROR_CODES.applicationInternalError,
        text: `Message of ${input.byteLength} bytes exceeds the maximum size of ${input.oversizedMaxBytes} bytes`,
      },
    ];
  }

  try {
    const message = parseMessage(text);
    checkMessageType(message);
    const resourceIds = await writeResults(deps, message, receivedAt);
    try {
      await deps.store.markProcessed(id, resourceIds);
    } catch (err) {
      // The results are in the FHIR server, so the message is still acknowledged.
      logger.error(
        { err, controlId: message.header.controlId },
        'Failed to mark a stored message as processed'
      );
    }
    logger.info(
      { controlId: message.header.controlId, resourceCount: resourceIds.length },
      'Message processed'
    );
    return [];
  } catch (err) {
    if (err instanceof Hl7ProcessingError) {
      return [err.issue];
    }
    if (err instanceof FhirTransactionError) {
      return [err.issue];
    }
    logger.error({ err }, 'Unexpected error while processing a message');
    return [
      {
        ackCode: 'AE',
        errorCode: ERROR_CODES.applicationInternalError,
        text: 'Internal error while processing the message',
      },
    ];
  }
}

function checkMessageType(message: Hl7Message): void {
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
