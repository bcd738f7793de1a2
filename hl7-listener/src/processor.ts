import { createHash, randomUUID } from 'node:crypto';
import { buildAck, type AckCode } from './ack/ack-builder.js';
import { planAck } from './ack/ack-mode.js';
import { handleBatch } from './batch/batch-handler.js';
import { splitFrame } from './batch/split.js';
import { matchChannel } from './channels/channels.js';
import { decodeLenient, decodeMessageBytes } from './hl7/charset.js';
import { detachedCopy } from './hl7/detached-copy.js';
import { ERROR_CODES, Hl7ProcessingError, type Hl7Issue } from './hl7/hl7-error.js';
import { parseMessage, peekHeader } from './hl7/message.js';
import type { ListenerMetrics } from './metrics.js';
import type { ConnectionWriter, InboundFrame, PeerInfo } from './mllp/server.js';
import type { FhirWriterDependencies } from './pipeline/fhir-writer.js';
import { firstComponent, readPatientKey } from './pipeline/message-facts.js';
import type { OutcomeHub } from './pipeline/outcome-hub.js';
import type { PipelineConfig } from './pipeline/pipeline-config.js';
import { checkMessageType } from './pipeline/process-stored.js';
import { awaitOriginalAck, replayDuplicate, respond, respondWith, type Arrival } from './stored-replies.js';
import type { MessageStore } from './store/message-store.js';
import type { BatchLink, Completion, QueuedMessage, ReceivedMessage } from './store/message-types.js';

/** Dependencies of the accept side of the listener. */
export interface ProcessorDependencies extends FhirWriterDependencies {
  store: MessageStore;
  metrics: ListenerMetrics;
  hub: OutcomeHub;
  pipeline: Pick<PipelineConfig, 'channels' | 'originalAckWaitMs'>;
  /** Hands a newly stored message to the processing worker. */
  enqueue: (message: QueuedMessage) => void;
  /** Returns the worker's copy of an unfinished message, when this listener's worker has one. */
  queuedMessage: (id: string) => QueuedMessage | undefined;
}

/** One message to store: a whole frame, a message split out of a batch, or an oversized head. */
export interface MessageInput {
  bytes: Buffer;
  /** Size of the message as received (larger than `bytes` for an oversized frame). */
  byteLength: number;
  peer: PeerInfo;
  /** Set when only the head of a frame larger than this many bytes was kept. */
  oversizedMaxBytes?: number;
  batch?: BatchLink;
  send?: ConnectionWriter | undefined;
}

export { PENDING_ACK_TEXT } from './stored-replies.js';

/** Reply to one message: the ACK text ('' when none is sent) and the MSH fields it was built from. */
export interface MessageOutcome {
  ack: string;
  header: string[];
}

/**
 * Creates the frame handler. A frame with one message gets one ACK; a batch or several concatenated
 * messages get one batch ACK with an ACK message per contained message.
 */
export function createMessageProcessor(
  deps: ProcessorDependencies
): (frame: InboundFrame) => Promise<string> {
  const handleMessage = (input: MessageInput): Promise<MessageOutcome> => acceptMessage(deps, input);

  return async (frame) => {
    if (frame.kind === 'oversized') {
      const outcome = await handleMessage({
        bytes: frame.head,
        byteLength: frame.byteLength,
        peer: frame.peer,
        oversizedMaxBytes: frame.maxMessageBytes,
        send: frame.send,
      });
      return outcome.ack;
    }

    const split = splitFrame(frame.payload);
    if (split.kind === 'single') {
      const outcome = await handleMessage({
        bytes: frame.payload,
        byteLength: frame.payload.length,
        peer: frame.peer,
        send: frame.send,
      });
      return outcome.ack;
    }
    return handleBatch(
      split,
      frame.peer,
      (input) => handleMessage({ ...input, send: frame.send }),
      deps.logger
    );
  };
}

function readArrival(deps: ProcessorDependencies, input: MessageInput): Arrival {
  // The head of an oversized frame may end inside a multi-byte character, so it is decoded leniently.
  const decoded =
    input.oversizedMaxBytes === undefined
      ? decodeMessageBytes(input.bytes)
      : { text: decodeLenient(input.bytes), charset: undefined, issue: undefined };
  const header = peekHeader(decoded.text).fields.map(detachedCopy);
  const controlId = firstComponent(header[10]);
  const sendingApplication = firstComponent(header[3]);
  const sendingFacility = firstComponent(header[4]);
  const channel = matchChannel(deps.pipeline.channels, sendingApplication, sendingFacility);
  const patientKey = readPatientKey(decoded.text);
  const plan = planAck(channel, header);

  const record: ReceivedMessage = {
    rawBase64: input.bytes.toString('base64'),
    sha256: createHash('sha256').update(input.bytes).digest('hex'),
    byteLength: input.byteLength,
    receivedAt: new Date(),
    peer: input.peer,
    controlId,
    sendingApplication,
    sendingFacility,
    messageType: (header[9] ?? '').split('^').slice(0, 2).join('^'),
    header,
    // Messages without PID-3 have no patient to keep in order, so each gets a key of its own.
    patientKey: patientKey === undefined ? `message:${randomUUID()}` : detachedCopy(patientKey),
    channel: channel.name,
    ackMode: plan.mode,
    acceptAckType: plan.acceptAckType,
    applicationAckType: plan.applicationAckType,
    ...(decoded.charset === undefined ? {} : { charset: decoded.charset }),
    ...(input.oversizedMaxBytes === undefined ? {} : { truncated: true }),
    ...(input.batch === undefined ? {} : { batch: input.batch }),
  };
  return { input, record, header, text: decoded.text, decodeIssue: decoded.issue, channel, plan };
}

/**
 * Finds why a message cannot be accepted at all (AR in original mode, CR in enhanced mode): an oversized
 * frame, a bad MSH, a structure error or a type other than ORU^R01. Immediate mode checks only the size,
 * because it acknowledges before parsing and leaves every other error to the dead-letter store.
 */
function findRejection(arrival: Arrival): Hl7Issue[] {
  const { input, plan } = arrival;
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
  if (plan.mode === 'immediate' || arrival.decodeIssue !== undefined) {
    // A character set problem is an application error (AE), reported after processing.
    return [];
  }
  try {
    checkMessageType(parseMessage(arrival.text));
    return [];
  } catch (err) {
    if (err instanceof Hl7ProcessingError && err.issue.ackCode === 'AR') {
      return [err.issue];
    }
    // Other problems (AE) are found again and reported by processing.
    return [];
  }
}

/**
 * Accepts one message: rejects what cannot be accepted, stores the bytes durably (or recognizes a
 * duplicate), and returns the reply its acknowledgment mode calls for. A storage failure becomes an
 * AE or CE reply.
 */
async function acceptMessage(deps: ProcessorDependencies, input: MessageInput): Promise<MessageOutcome> {
  const arrival = readArrival(deps, input);
  const { record, header, plan } = arrival;
  const messageType = record.messageType ?? '';
  deps.metrics.received.inc({ message_type: messageType === '' ? 'unknown' : messageType });

  // HL7 forbids acknowledging an ACK; a sender in enhanced mode sends one for each application ACK.
  if (messageType.startsWith('ACK')) {
    try {
      await deps.store.insertUnanswered(
        record,
        'ACK message: HL7 forbids acknowledging an ACK, so it got no reply'
      );
    } catch (err) {
      deps.logger.error({ err, controlId: record.controlId }, 'Failed to store a received ACK message');
    }
    deps.logger.info({ controlId: record.controlId }, 'Received an ACK message; it gets no reply');
    return { ack: '', header };
  }

  const rejection = findRejection(arrival);
  if (rejection.length > 0) {
    return reject(deps, arrival, rejection);
  }

  const ackCode: AckCode = plan.mode === 'enhanced' ? 'CA' : 'AA';
  const firstAck =
    plan.mode === 'original' ? undefined : buildAck({ code: ackCode, originalHeader: header, issues: [] });
  const toStore: ReceivedMessage = {
    ...record,
    ...(firstAck === undefined ? {} : plan.mode === 'enhanced' ? { acceptAck: firstAck } : { ack: firstAck }),
  };

  let stored: QueuedMessage;
  try {
    const inserted = await deps.store.insertReceived(toStore);
    if (inserted.kind === 'duplicate') {
      if (inserted.sameBytes) {
        return await replayDuplicate(deps, arrival, inserted.existing);
      }
      if (arrival.channel.duplicatePolicy === 'reject') {
        return await reject(deps, arrival, [duplicateIssue(record.controlId ?? '')]);
      }
      stored = (await deps.store.insertCorrection(toStore)).queued;
      deps.logger.info(
        { controlId: record.controlId, version: stored.version },
        'Stored a correction of an earlier message'
      );
    } else {
      stored = inserted.queued;
    }
  } catch (err) {
    deps.logger.error(
      { err, controlId: record.controlId },
      'Failed to store message, so it is not accepted and the sender must resend'
    );
    const issue: Hl7Issue = {
      ackCode: 'AE',
      errorCode: ERROR_CODES.applicationInternalError,
      text: 'Message could not be stored; resend it later',
    };
    const code: AckCode = plan.mode === 'enhanced' ? 'CE' : 'AE';
    return respond(deps, arrival, code, [issue], plan.mode === 'enhanced' ? plan.acceptAckType : 'AL');
  }

  const id = stored._id.toHexString();
  if (plan.mode === 'enhanced' && input.send !== undefined) {
    deps.hub.registerConnection(id, { send: input.send });
  }
  deps.enqueue(stored);

  if (plan.mode === 'original') {
    return awaitOriginalAck(deps, arrival, stored);
  }
  return respondWith(
    deps,
    firstAck ?? '',
    ackCode,
    header,
    plan.mode === 'enhanced' ? plan.acceptAckType : 'AL'
  );
}

function duplicateIssue(controlId: string): Hl7Issue {
  return {
    ackCode: 'AR',
    errorCode: ERROR_CODES.duplicateKeyIdentifier,
    location: { segment: 'MSH', segmentSequence: 1, field: 10 },
    text: `Message control id ${controlId} from this facility was already received with different content`,
  };
}

/** Builds the AR (CR in enhanced mode) reply and stores the message as rejected, outside duplicate detection. */
async function reject(
  deps: ProcessorDependencies,
  arrival: Arrival,
  issues: Hl7Issue[]
): Promise<MessageOutcome> {
  const { plan, header, record } = arrival;
  const code: AckCode = plan.mode === 'enhanced' ? 'CR' : 'AR';
  const ack = buildAck({ code, originalHeader: header, issues });
  const completion: Completion = {
    status: 'rejected',
    ackCode: 'AR',
    ...(plan.mode === 'enhanced' ? { acceptAck: ack } : { ack }),
    errors: issues,
    reason: issues.map((issue) => issue.text).join('; '),
  };
  try {
    await deps.store.insertRejected(record, completion);
  } catch (err) {
    deps.logger.error(
      { err, controlId: record.controlId },
      'Failed to store a rejected message; its reason is only in this log'
    );
  }
  deps.logger.info(
    { controlId: record.controlId, ackCode: code, errorCodes: issues.map((issue) => issue.errorCode) },
    'Message not accepted'
  );
  return respondWith(deps, ack, code, header, plan.mode === 'enhanced' ? plan.acceptAckType : 'AL');
}
