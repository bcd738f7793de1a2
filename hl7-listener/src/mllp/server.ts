import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from '@monitormed/common';
import { DEFAULT_MAX_MESSAGE_BYTES, MllpFrameDecoder, encodeFrame, type FrameEvent } from './framing.js';

/** Remote address and port of a connection, stored with each message for tracing. */
export interface PeerInfo {
  address: string;
  port: number;
}

/** Frame handed to the application: a whole message, or the first bytes of an oversized message. */
export type InboundFrame =
  | { kind: 'message'; payload: Buffer; peer: PeerInfo }
  | { kind: 'oversized'; head: Buffer; byteLength: number; maxMessageBytes: number; peer: PeerInfo };

/** Turns one inbound frame into the reply text (an ACK); it must not throw. */
export type FrameHandler = (frame: InboundFrame) => Promise<string>;

/** Options of {@link MllpServer}. */
export interface MllpServerOptions {
  host: string;
  /** TCP port; 0 picks a free port. */
  port: number;
  handler: FrameHandler;
  logger: Logger;
  /** Largest accepted message in bytes; the handler rejects a larger frame with AR and discards it. */
  maxMessageBytes?: number;
  /** A connection with no traffic and no message in flight for this long is closed. */
  idleTimeoutMs?: number;
  /** How long `close()` waits for frames in flight before it drops the remaining connections. */
  closeGraceMs?: number;
}

/**
 * Frames a connection may have waiting for their ACK before the server stops reading from it. Original-mode
 * senders wait for each ACK, so only a sender that pipelines messages reaches it, and TCP flow control then
 * slows that sender down instead of the listener buffering without bound.
 */
const MAX_QUEUED_FRAMES = 16;

interface ConnectionState {
  socket: Socket;
  decoder: MllpFrameDecoder;
  peer: PeerInfo;
  /** Tail of the chain of frames being handled, so replies go out in the order frames arrived. */
  queue: Promise<void>;
  inFlight: number;
}

/**
 * MLLP server over Node `net`: decodes frames, hands each to the handler one at a time per connection
 * and writes the framed reply. Connections stay open for many messages (keep-alive).
 */
export class MllpServer {
  private readonly options: Required<MllpServerOptions>;
  private readonly server: Server;
  private readonly connections = new Set<ConnectionState>();
  private closing: Promise<void> | undefined;

  constructor(options: MllpServerOptions) {
    this.options = {
      maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
      idleTimeoutMs: 5 * 60_000,
      closeGraceMs: 5_000,
      ...options,
    };
    this.server = createServer((socket) => {
      this.accept(socket);
    });
  }

  /** Port the server is bound to (the real one when it was started on port 0). */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /**
   * Starts listening.
   * @returns A promise that resolves once the port is bound.
   */
  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /**
   * Stops accepting connections, lets frames in flight finish and get their replies, then closes every
   * connection. Connections still busy after `closeGraceMs` are destroyed. Safe to call more than once.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const serverClosed = new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });

    for (const connection of this.connections) {
      this.endIfIdle(connection);
    }

    const grace = setTimeout(() => {
      for (const connection of this.connections) {
        this.options.logger.warn(
          { peer: connection.peer.address, inFlight: connection.inFlight },
          'Dropping busy MLLP connection at shutdown'
        );
        connection.socket.destroy();
      }
    }, this.options.closeGraceMs);

    await serverClosed;
    clearTimeout(grace);
  }

  private accept(socket: Socket): void {
    const peer: PeerInfo = { address: socket.remoteAddress ?? 'unknown', port: socket.remotePort ?? 0 };
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }

    const connection: ConnectionState = {
      socket,
      decoder: new MllpFrameDecoder(this.options.maxMessageBytes),
      peer,
      queue: Promise.resolve(),
      inFlight: 0,
    };
    this.connections.add(connection);
    this.options.logger.debug({ peer: peer.address, port: peer.port }, 'MLLP connection opened');

    socket.setTimeout(this.options.idleTimeoutMs);
    socket.on('timeout', () => {
      if (connection.inFlight === 0) {
        this.options.logger.info(
          { peer: peer.address, idleTimeoutMs: this.options.idleTimeoutMs },
          'Closing idle MLLP connection'
        );
        socket.end();
      }
    });
    socket.on('data', (data: Buffer) => {
      this.receive(connection, data);
    });
    socket.on('error', (err) => {
      this.options.logger.warn({ peer: peer.address, err }, 'MLLP connection error');
    });
    socket.on('close', () => {
      this.connections.delete(connection);
      this.options.logger.debug({ peer: peer.address, port: peer.port }, 'MLLP connection closed');
    });
  }

  private receive(connection: ConnectionState, data: Buffer): void {
    for (const event of connection.decoder.push(data)) {
      this.dispatch(connection, event);
    }
    if (this.closing !== undefined) {
      this.endIfIdle(connection);
    }
  }

  private dispatch(connection: ConnectionState, event: FrameEvent): void {
    const { peer } = connection;
    if (event.kind === 'junk') {
      this.options.logger.warn(
        { peer: peer.address, byteLength: event.byteLength },
        'Skipped bytes outside any MLLP frame'
      );
      return;
    }

    const frame: InboundFrame =
      event.kind === 'frame'
        ? { kind: 'message', payload: event.payload, peer }
        : {
            kind: 'oversized',
            head: event.head,
            byteLength: event.byteLength,
            maxMessageBytes: this.options.maxMessageBytes,
            peer,
          };

    connection.inFlight += 1;
    if (connection.inFlight >= MAX_QUEUED_FRAMES) {
      connection.socket.pause();
    }
    connection.queue = connection.queue.then(async () => {
      try {
        const reply = await this.options.handler(frame);
        if (!connection.socket.destroyed) {
          connection.socket.write(encodeFrame(reply));
        }
      } catch (err) {
        // The handler contract is to return an AE/AR rather than throw; this guards the connection.
        this.options.logger.error({ peer: peer.address, err }, 'MLLP frame handler failed without a reply');
      } finally {
        connection.inFlight -= 1;
        if (connection.inFlight < MAX_QUEUED_FRAMES && connection.socket.isPaused()) {
          connection.socket.resume();
        }
        if (this.closing !== undefined) {
          this.endIfIdle(connection);
        }
      }
    });
  }

  private endIfIdle(connection: ConnectionState): void {
    if (connection.inFlight === 0 && !connection.decoder.hasPartialFrame) {
      connection.socket.end();
    }
  }
}
