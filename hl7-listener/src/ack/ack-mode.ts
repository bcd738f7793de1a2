import type { AckCode } from './ack-builder.js';
import type { AckModeSetting, ChannelConfig } from '../channels/channels.js';

/** Acknowledgment plan of one message, from its channel and its MSH-15/MSH-16. */
export interface AckPlan {
  mode: AckModeSetting;
  /** MSH-15 accept acknowledgment type (table 0155: AL, NE, ER, SU); empty when not sent. */
  acceptAckType: string;
  /** MSH-16 application acknowledgment type (table 0155). */
  applicationAckType: string;
}

/**
 * Chooses the acknowledgment mode. A channel set to `immediate` always wins, because its peers need the
 * ACK before any processing. Otherwise a message with MSH-15 or MSH-16 valued requests enhanced mode
 * (HL7 v2.5.1 section 2.9.3), and a channel set to `enhanced` turns it on for every message.
 * @param channel - The channel the sender matched.
 * @param header - MSH fields by sequence number.
 */
export function planAck(channel: ChannelConfig, header: string[]): AckPlan {
  const acceptAckType = (header[15] ?? '').trim().toUpperCase();
  const applicationAckType = (header[16] ?? '').trim().toUpperCase();
  if (channel.ackMode === 'immediate') {
    return { mode: 'immediate', acceptAckType, applicationAckType };
  }
  const enhanced = channel.ackMode === 'enhanced' || acceptAckType !== '' || applicationAckType !== '';
  return { mode: enhanced ? 'enhanced' : 'original', acceptAckType, applicationAckType };
}

/**
 * Tells whether an ACK with `code` is sent under an acknowledgment type of table 0155: AL always, NE
 * never, ER only for an error (AE, AR, CE, CR), SU only for success (AA, CA). An empty or unknown type
 * counts as AL, so a sender in enhanced mode that values only one of MSH-15 and MSH-16 still gets both.
 */
export function shouldSendAck(ackType: string, code: AckCode): boolean {
  const success = code === 'AA' || code === 'CA';
  switch (ackType) {
    case 'NE':
      return false;
    case 'ER':
      return !success;
    case 'SU':
      return success;
    default:
      return true;
  }
}

/** Maps an application-level outcome to the accept ACK code of enhanced mode: AR to CR, AE to CE. */
export function toAcceptCode(code: 'AE' | 'AR'): 'CE' | 'CR' {
  return code === 'AR' ? 'CR' : 'CE';
}
