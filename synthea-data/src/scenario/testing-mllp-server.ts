/**
 * A tiny MLLP listener for tests. It ACKs every message with AA, except that a message containing
 * REJECT gets AR, ERROR gets AE, NOACK gets no ACK and WRONGID gets an ACK for another control id.
 * ACKs are written in two chunks so that clients must reassemble them.
 */
import net from 'node:net';
import { MLLP_END, MLLP_START, frameMllp } from './mllp-client.js';

/** A running test listener. */
export interface TestMllpServer {
  port: number;
  /** Messages received, without framing, in arrival order. */
  received: string[];
  /** Blocks that did not start with VT. */
  framingErrors: number;
  close(): Promise<void>;
}

function ackFor(text: string): string | undefined {
  if (text.includes('NOACK')) {
    return undefined;
  }
  const controlId = text.split('\r')[0]?.split('|')[9] ?? '';
  const code = text.includes('REJECT') ? 'AR' : text.includes('ERROR') ? 'AE' : 'AA';
  const ackId = text.includes('WRONGID') ? 'OTHER' : controlId;
  return frameMllp(
    `MSH|^~\\&|RCV|RCV|TEST|FAC|20260301000001+0000||ACK^R01^ACK|A${controlId}|P|2.5.1\rMSA|${code}|${ackId}\r`
  );
}

/**
 * Starts the listener on a free loopback port.
 * @returns The port, the received messages and a close function that is safe to call twice.
 */
export async function startTestMllpServer(): Promise<TestMllpServer> {
  const sockets = new Set<net.Socket>();
  const state = { received: [] as string[], framingErrors: 0 };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setEncoding('utf8');
    let buffer = '';
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let end = buffer.indexOf(MLLP_END);
      while (end !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + MLLP_END.length);
        if (block.charAt(0) !== MLLP_START) {
          state.framingErrors++;
        }
        const text = block.slice(1);
        state.received.push(text);
        const ack = ackFor(text);
        if (ack !== undefined) {
          socket.write(ack.slice(0, 10));
          setTimeout(() => socket.write(ack.slice(10)), 2);
        }
        end = buffer.indexOf(MLLP_END);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();

  let closed = false;
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    received: state.received,
    get framingErrors() {
      return state.framingErrors;
    },
    close: async () => {
      if (closed) {
        return;
      }
      closed = true;
      for (const socket of sockets) {
        socket.destroy();
      }
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
