import { buildAck, type AckCode } from './ack/ack-builder.js';
import { shouldSendAck, type AckPlan } from './ack/ack-mode.js';
import type { ChannelConfig } from './channels/channels.js';
import { ERROR_CODES, type Hl7Issue } from './hl7/hl7-error.js';
import { countAck } from './metrics.js';
import type { MessageInput, MessageOutcome, ProcessorDependencies } from './processor.js';
import type { QueuedMessage, ReceivedMessage, StoredDocument } from './store/message-types.js';

// Replies of the accept side that come from stored state rather than from the message itself: the
// wait for an original-mode outcome and the replay of an exact resend.

/** Text of the original-mode AE sent when processing outlasts `originalAckWaitMs`. */
export const PENDING_ACK_TEXT =
  'Message stored but not yet processed because the FHIR server is unavailable; it will be retried, do not resend';

/** A message as it arrived, read before anything is stored. */
export interface Arrival {
  input: MessageInput;
  record: ReceivedMessage;
  header: string[];
  text: string;
  decodeIssue: Hl7Issue | undefined;
  channel: ChannelConfig;
  plan: AckPlan;
}

/** Builds the ACK of `code` for an arrival; see {@link respondWith}. */
export function respond(
  deps: ProcessorDependencies,
  arrival: Arrival,
  code: AckCode,
  issues: Hl7Issue[],
  ackType: string
): MessageOutcome {
  return respondWith(
    deps,
    buildAck({ code, originalHeader: arrival.header, issues }),
    code,
    arrival.header,
    ackType
  );
}

/** Returns the ACK, or '' when the acknowledgment type (MSH-15 or MSH-16) excludes it. */
export function respondWith(
  deps: ProcessorDependencies,
  ack: string,
  code: AckCode,
  header: string[],
  ackType: string
): MessageOutcome {
  if (!shouldSendAck(ackType, code)) {
    return { ack: '', header };
  }
  countAck(deps.metrics, code);
  return { ack, header };
}

/**
 * Waits up to `originalAckWaitMs` for the outcome of an original-mode message. When it is not there in
 * time (the FHIR server is down or earlier messages of the patient are waiting for a retry), the ACK is
 * AE with {@link PENDING_ACK_TEXT}; the message stays queued, and a resend waits for it again.
 */
export async function awaitOriginalAck(
  deps: ProcessorDependencies,
  arrival: Arrival,
  message: Pick<QueuedMessage, '_id' | 'segment'>
): Promise<MessageOutcome> {
  const id = message._id.toHexString();
  const completion = await deps.hub.waitFor(id, deps.pipeline.originalAckWaitMs);
  if (completion?.ack !== undefined) {
    return respondWith(deps, completion.ack, completion.ackCode ?? 'AE', arrival.header, 'AL');
  }

  // Another listener on the same database may have finished it, unless this listener's worker still
  // has it unfinished. The lookup scans the outcomes on FerretDB 1.24, so it is skipped then.
  const workerCopy = deps.queuedMessage(id);
  if (workerCopy === undefined || workerCopy.done) {
    const outcome = await deps.store.findOutcome(message._id).catch(() => null);
    if (outcome?.ack !== undefined) {
      return respondWith(deps, outcome.ack, outcome.ackCode ?? 'AE', arrival.header, 'AL');
    }
  }

  try {
    // The worker's copy is what processing reads, so it gets the time too.
    const target = workerCopy ?? (message.segment === '' ? undefined : message);
    const at = target === undefined ? undefined : await deps.store.markPendingAckSent(target);
    if (workerCopy !== undefined && at !== undefined) {
      workerCopy.pendingAckSentAt = at;
    }
  } catch (err) {
    deps.logger.warn({ err, messageId: id }, 'Failed to record that a pending AE was sent');
  }
  deps.logger.warn(
    { controlId: arrival.record.controlId, waitMs: deps.pipeline.originalAckWaitMs },
    'Message not processed in time; answering AE and retrying in the background'
  );
  return respond(
    deps,
    arrival,
    'AE',
    [{ ackCode: 'AE', errorCode: ERROR_CODES.applicationInternalError, text: PENDING_ACK_TEXT }],
    'AL'
  );
}

/**
 * Replies to an exact resend (same MSH-4, MSH-10 and bytes) without storing or processing anything:
 * - a finished message gets the ACK it got before, byte for byte (enhanced mode: the accept ACK, then
 *   the application ACK again on this connection when MSH-16 asked for it);
 * - a message still in progress gets its current state: original mode waits for the outcome like the
 *   first copy did, enhanced mode gets CA and the application ACK later on this connection, immediate
 *   mode gets its AA again.
 */
export async function replayDuplicate(
  deps: ProcessorDependencies,
  arrival: Arrival,
  existing: StoredDocument
): Promise<MessageOutcome> {
  const { header, input } = arrival;
  const id = existing._id.toHexString();
  const inProgress = existing.status === 'received' || existing.status === 'processing';
  deps.logger.info(
    { controlId: existing.controlId, messageId: id, status: existing.status },
    'Duplicate message; replaying the earlier ACK'
  );

  if (existing.ackMode === 'enhanced') {
    const acceptAck = existing.acceptAck ?? buildAck({ code: 'CA', originalHeader: header, issues: [] });
    const applicationAck = existing.applicationAck;
    if (inProgress && input.send !== undefined) {
      deps.hub.registerConnection(id, { send: input.send });
    }
    if (!inProgress && applicationAck !== undefined && input.send !== undefined) {
      const send = input.send;
      if (shouldSendAck(existing.applicationAckType ?? '', existing.ackCode ?? 'AE')) {
        // The server writes the returned accept ACK first; this runs after that write.
        setImmediate(() => send(applicationAck));
      }
    }
    // Only accepted messages take part in duplicate detection, so the stored accept ACK is a CA.
    return respondWith(deps, acceptAck, 'CA', header, existing.acceptAckType ?? '');
  }

  if (existing.ackMode === 'immediate') {
    return respondWith(
      deps,
      existing.ack ?? buildAck({ code: 'AA', originalHeader: header, issues: [] }),
      'AA',
      header,
      'AL'
    );
  }
  if (!inProgress && existing.ack !== undefined) {
    return respondWith(deps, existing.ack, existing.ackCode ?? 'AE', header, 'AL');
  }
  return awaitOriginalAck(deps, arrival, { _id: existing._id, segment: existing.queueSegment ?? '' });
}
