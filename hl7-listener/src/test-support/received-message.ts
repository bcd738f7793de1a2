import type { ReceivedMessage } from '../store/message-types.js';

/**
 * Builds an empty immediate-mode message as the accept path would store it, for store tests that need
 * a queued message but no content. Its `sha256` is the control id, so two calls with one id are exact
 * resends of each other.
 */
export function emptyReceivedMessage(
  controlId: string,
  sendingFacility: string,
  patientKey: string
): ReceivedMessage {
  return {
    rawBase64: '',
    sha256: controlId,
    byteLength: 0,
    receivedAt: new Date(),
    peer: { address: '127.0.0.1', port: 1 },
    controlId,
    sendingFacility,
    header: [],
    patientKey,
    channel: 'default',
    ackMode: 'immediate',
  };
}
