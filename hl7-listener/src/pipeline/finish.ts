import type { Logger } from '@monitormed/common';
import { buildAck, type AckCode } from '../ack/ack-builder.js';
import { shouldSendAck } from '../ack/ack-mode.js';
import type { ChannelConfig } from '../channels/channels.js';
import { ERROR_CODES, type Hl7Issue } from '../hl7/hl7-error.js';
import type { Completion } from '../store/message-store.js';
import { deliverApplicationAck } from './application-ack.js';
import type { OutcomeHub } from './outcome-hub.js';
import type { AttemptOutcome } from './process-stored.js';
import type { StoredMessage } from './worker.js';

/** Dependencies of finishing a message. */
export interface FinishDependencies {
  hub: OutcomeHub;
  logger: Logger;
  /** Finds the channel a stored message came through, for its return address. */
  channelOf: (message: StoredMessage) => ChannelConfig;
  /** How long sending an application ACK to a return address may take. */
  returnAddressTimeoutMs: number;
}

function issuesOf(message: StoredMessage, outcome: AttemptOutcome): Hl7Issue[] {
  if (outcome.kind === 'permanent') {
    return outcome.issues;
  }
  if (outcome.kind === 'transient') {
    return [
      {
        ackCode: 'AE',
        errorCode: ERROR_CODES.applicationInternalError,
        text: `Processing failed ${message.attempts} times; last error: ${outcome.error}`,
      },
    ];
  }
  return [];
}

/**
 * Builds the final state of a message and sends its application ACK in enhanced mode. A failure goes to
 * the dead-letter store (`dead`) when no ACK reported it to the sender: in immediate mode (the sender
 * got AA before parsing), in original mode after the AE saying it will be retried, in enhanced mode when
 * the application ACK could not be delivered, and always when the retries ran out.
 */
export async function finishMessage(
  deps: FinishDependencies,
  message: StoredMessage,
  outcome: AttemptOutcome,
  exhausted: boolean
): Promise<Completion> {
  const issues = issuesOf(message, outcome);
  const processed = outcome.kind === 'processed';
  const code: AckCode = processed ? 'AA' : issues.some((issue) => issue.ackCode === 'AR') ? 'AR' : 'AE';
  const ack = buildAck({ code, originalHeader: message.header, issues });
  const reason = issues.map((issue) => issue.text).join('; ');
  let status: Completion['status'] = 'failed';
  if (processed) {
    status = 'processed';
  } else if (code === 'AR') {
    status = 'rejected';
  }
  let untold = exhausted;

  const completion: Completion = {
    status,
    ackCode: code,
    ...(processed ? { resourceIds: outcome.resourceIds } : { errors: issues, reason }),
  };

  if (message.ackMode === 'original') {
    completion.ack = ack;
    untold ||= !processed && message.pendingAckSentAt !== undefined;
  } else if (message.ackMode === 'immediate') {
    untold ||= !processed;
  } else {
    completion.applicationAck = ack;
    if (shouldSendAck(message.applicationAckType ?? '', code)) {
      const id = message._id.toHexString();
      const result = await deliverApplicationAck(ack, {
        connection: deps.hub.connectionOf(id),
        returnAddress: deps.channelOf(message).returnAddress,
        timeoutMs: deps.returnAddressTimeoutMs,
      });
      completion.applicationAckDelivery = result.delivery;
      if (result.delivery === 'undelivered') {
        deps.logger.warn(
          { err: result.error, messageId: id, controlId: message.controlId },
          'Application ACK could not be delivered'
        );
      }
      untold ||= !processed && result.delivery === 'undelivered';
    } else {
      completion.applicationAckDelivery = 'not-requested';
    }
  }

  if (!processed && untold) {
    status = 'dead';
  }
  completion.status = status;
  return completion;
}
