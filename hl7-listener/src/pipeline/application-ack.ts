import { connect } from 'node:net';
import { encodeFrame } from '../mllp/framing.js';
import type { ApplicationAckDelivery } from '../store/message-store.js';
import type { ReplyConnection } from './outcome-hub.js';

/** Destinations of an application ACK, tried in order. */
export interface AckDestination {
  /** The connection the message arrived on, when this process accepted it. */
  connection?: ReplyConnection | undefined;
  /** The channel's return address. */
  returnAddress?: { host: string; port: number } | undefined;
  /** How long connecting and writing to the return address may take. */
  timeoutMs: number;
}

/**
 * Writes one framed message to `host:port` over a new MLLP connection and closes it. No reply is awaited,
 * because an application ACK is itself never acknowledged in original mode.
 */
export function sendOverMllp(host: string, port: number, text: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`Timed out after ${timeoutMs} ms sending to ${host}:${port}`));
    }, timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('connect', () => {
      socket.end(encodeFrame(text), () => {
        clearTimeout(timer);
        resolve();
      });
    });
  });
}

/**
 * Sends an application ACK on the original connection while it is open, otherwise to the return address.
 * @returns How it was delivered, or `undelivered` when neither worked.
 * @throws Never; a failed send to the return address is returned as `undelivered` with the error.
 */
export async function deliverApplicationAck(
  ack: string,
  destination: AckDestination
): Promise<{ delivery: ApplicationAckDelivery; error?: unknown }> {
  if (destination.connection?.send(ack) === true) {
    return { delivery: 'connection' };
  }
  if (destination.returnAddress === undefined) {
    return { delivery: 'undelivered' };
  }
  const { host, port } = destination.returnAddress;
  try {
    await sendOverMllp(host, port, ack, destination.timeoutMs);
    return { delivery: 'return-address' };
  } catch (err) {
    return { delivery: 'undelivered', error: err };
  }
}
