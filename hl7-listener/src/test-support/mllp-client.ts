import { connect, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { MllpFrameDecoder, encodeFrame } from '../mllp/framing.js';

/** Thrown when no reply arrives in time. */
export class ReplyTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`No MLLP reply within ${timeoutMs} ms`);
    this.name = 'ReplyTimeoutError';
  }
}

/**
 * Minimal MLLP client for tests: sends raw bytes or framed messages and collects framed replies in order.
 */
export class TestMllpClient {
  private readonly socket: Socket;
  private readonly decoder = new MllpFrameDecoder(64 * 1024 * 1024);
  private readonly replies: string[] = [];
  private waiter: (() => void) | undefined;
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (data: Buffer) => {
      for (const event of this.decoder.push(data)) {
        if (event.kind === 'frame') {
          this.replies.push(event.payload.toString('utf8'));
        }
      }
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => {
      this.closed = true;
    });
  }

  /** Connects to a listener on the loopback interface. */
  static async connect(port: number, host = '127.0.0.1'): Promise<TestMllpClient> {
    const socket = connect({ port, host });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new TestMllpClient(socket);
  }

  /**
   * Connects over TLS to a listener on the loopback interface.
   * @param options - CA, client certificate and key of the connection.
   * @throws When the TLS handshake fails on the client side.
   */
  static async connectTls(port: number, options: ConnectionOptions): Promise<TestMllpClient> {
    const socket = connectTls({ host: '127.0.0.1', port, ...options });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    return new TestMllpClient(socket);
  }

  /** Writes bytes as they are, without framing. */
  async writeRaw(bytes: Buffer): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.socket.write(bytes, (err) => {
        if (err) {
          reject(err);
        } else {
          resolve();
        }
      });
    });
  }

  /** Sends one framed message and returns its reply. */
  async send(message: string, timeoutMs = 30_000): Promise<string> {
    await this.writeRaw(encodeFrame(message));
    return this.nextReply(timeoutMs);
  }

  /**
   * Waits for the next reply.
   * @throws ReplyTimeoutError when none arrives in time or the connection closes first.
   */
  async nextReply(timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length === 0) {
      if (this.closed || Date.now() >= deadline) {
        throw new ReplyTimeoutError(timeoutMs);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.replies.shift() ?? '';
  }

  /** Closes the connection. */
  close(): void {
    this.socket.end();
  }

  /** Resets the connection at once, as a sender that gives up without reading its ACK. */
  destroy(): void {
    this.socket.destroy();
  }

  /**
   * Waits until the server closes the connection.
   * @returns True when it closed within `timeoutMs`.
   */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this.closed;
  }
}

/** Reads one segment of an ACK, split into fields (index 0 is the segment id). */
export function ackSegments(ack: string, name: string): string[][] {
  return ack
    .split('\r')
    .filter((segment) => segment.startsWith(`${name}|`))
    .map((segment) => segment.split('|'));
}
