import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import type { Logger } from '@monitormed/common';
import { createListenerMetrics, type ListenerMetrics } from '../metrics.js';
import { DEFAULT_MAX_MESSAGE_BYTES, MllpFrameDecoder, encodeFrame, type FrameEvent } from './framing.js';

/** Remote address and port of a connection, stored with each message for tracing. */
export interface PeerInfo {
  address: string;
  port: number;
}

/**
 * Writes one more framed message on the connection a frame arrived on, later than its reply (an
 * enhanced-mode application ACK). Returns false when the connection is no longer writable.
 * Hook added by the durable-accept pipeline (processor.ts); the transport code only passes it through.
 */
export type ConnectionWriter = (text: string) => boolean;

/** Frame handed to the application: a whole message, or the first bytes of an oversized message. */
export type InboundFrame = (
  | { kind: 'message'; payload: Buffer; peer: PeerInfo }
  | { kind: 'oversized'; head: Buffer; byteLength: number; maxMessageBytes: number; peer: PeerInfo }
) & { send?: ConnectionWriter };

/** Turns one inbound frame into the reply text (an ACK, or '' for no reply); it must not throw. */
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
  /** Open connections allowed at once; a connection over the limit is closed at once and counted. */
  maxConnections?: number;
  /** Options of `node:tls` (see `loadTlsOptions`); without them the port speaks plain TCP. */
  tls?: TlsOptions;
  /** Metrics to update; by default a private set, which is enough when the metrics are not scraped. */
  metrics?: ListenerMetrics;
}

/** Default of {@link MllpServerOptions.maxConnections}: far more than the few connections an interface engine opens. */
export const DEFAULT_MAX_CONNECTIONS = 100;

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
  /**
   * Writer handed out with every frame of the connection, made once per connection. A closure made per
   * frame would share the frame's scope, so it would keep the frame's bytes in memory while an
   * enhanced-mode message waits for its application ACK.
   */
  send: ConnectionWriter;
  /** Tail of the chain of frames being handled, so replies go out in the order frames arrived. */
  queue: Promise<void>;
  inFlight: number;
}

/** Returns a {@link ConnectionWriter} for `socket`, in a closure that captures only the socket. */
function writerFor(socket: Socket): ConnectionWriter {
  return (text) => {
    if (!socket.writable) {
      return false;
    }
    socket.write(encodeFrame(text));
    return true;
  };
}

/** Reads MSA-2 (the acknowledged control id) from a reply, for logs. */
function acknowledgedControlId(reply: string): string | undefined {
  // Every reply starts with MSH, so MSA always follows a segment terminator; MSH-1 is the field separator.
  const start = reply.indexOf('\rMSA') + 1;
  if (start === 0) {
    return undefined;
  }
  const end = reply.indexOf('\r', start);
  return reply.slice(start, end === -1 ? undefined : end).split(reply.charAt(3))[2];
}

/**
 * MLLP server over Node `net`, or `tls` when TLS options are given: decodes frames, hands each to the
 * handler one at a time per connection and writes the framed reply. Connections stay open for many
 * messages (keep-alive).
 */
export class MllpServer {
  private readonly options: Required<Omit<MllpServerOptions, 'tls'>>;
  private readonly server: Server;
  private readonly metrics: ListenerMetrics;
  private readonly connections = new Set<ConnectionState>();
  private closing: Promise<void> | undefined;

  constructor(options: MllpServerOptions) {
    this.options = {
      maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
      idleTimeoutMs: 5 * 60_000,
      closeGraceMs: 5_000,
      maxConnections: DEFAULT_MAX_CONNECTIONS,
      metrics: options.metrics ?? createListenerMetrics(),
      ...options,
    };
    this.metrics = this.options.metrics;
    const { logger } = this.options;

    if (options.tls === undefined) {
      this.server = createTcpServer((socket) => {
        this.accept(socket);
      });
    } else {
      // tls.Server emits 'secureConnection' only after a successful handshake (and, with requestCert and
      // rejectUnauthorized, a verified client certificate), so the handler never receives a frame from an
      // unverified peer.
      const tlsServer = createTlsServer(options.tls, (socket) => {
        this.accept(socket);
      });
      tlsServer.on('tlsClientError', (err, socket) => {
        this.metrics.tlsFailures.inc();
        logger.warn(
          { peer: socket.remoteAddress, code: (err as NodeJS.ErrnoException).code },
          'MLLP TLS handshake failed'
        );
      });
      this.server = tlsServer;
    }

    // Node closes a connection over maxConnections as soon as it is accepted and emits 'drop' (Node >= 18.6).
    this.server.maxConnections = this.options.maxConnections;
    this.server.on('drop', (data) => {
      this.metrics.rejectedConnections.inc({ reason: 'limit' });
      logger.warn(
        { peer: data?.remoteAddress, maxConnections: this.options.maxConnections },
        'Rejected MLLP connection over the connection limit'
      );
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
          {
            peer: connection.peer.address,
            inFlight: connection.inFlight,
            partialFrame: connection.decoder.hasPartialFrame,
            closeGraceMs: this.options.closeGraceMs,
          },
          'Dropping MLLP connection still open after the shutdown grace period'
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
      this.metrics.rejectedConnections.inc({ reason: 'shutdown' });
      socket.destroy();
      return;
    }

    const connection: ConnectionState = {
      socket,
      decoder: new MllpFrameDecoder(this.options.maxMessageBytes),
      peer,
      send: writerFor(socket),
      queue: Promise.resolve(),
      inFlight: 0,
    };
    this.connections.add(connection);
    this.metrics.openConnections.inc();
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
      this.metrics.receivedBytes.inc(data.length);
      this.receive(connection, data);
    });
    socket.on('error', (err) => {
      this.options.logger.warn({ peer: peer.address, err }, 'MLLP connection error');
    });
    socket.on('close', () => {
      this.connections.delete(connection);
      this.metrics.openConnections.dec();
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

    const { send } = connection;
    const frame: InboundFrame =
      event.kind === 'frame'
        ? { kind: 'message', payload: event.payload, peer, send }
        : {
            kind: 'oversized',
            head: event.head,
            byteLength: event.byteLength,
            maxMessageBytes: this.options.maxMessageBytes,
            peer,
            send,
          };

    const frameEndedAt = process.hrtime.bigint();
    connection.inFlight += 1;
    if (connection.inFlight >= MAX_QUEUED_FRAMES) {
      connection.socket.pause();
    }
    connection.queue = connection.queue.then(async () => {
      try {
        const reply = await this.options.handler(frame);
        this.reply(connection, reply, frameEndedAt);
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

  private reply(connection: ConnectionState, reply: string, frameEndedAt: bigint): void {
    const { socket, peer } = connection;
    if (reply === '') {
      // MSH-15 NE or ER asked for no accept ACK, or the frame was itself an ACK, which gets none.
      return;
    }
    if (!socket.writable) {
      // The handler has already stored and handled the message, so only the ACK is lost. A sender that
      // retransmits gets the message handled again, and the conditional FHIR writes keep that idempotent.
      this.options.logger.warn(
        { peer: peer.address, port: peer.port, controlId: acknowledgedControlId(reply) },
        'MLLP peer closed the connection before the ACK was sent'
      );
      return;
    }
    socket.write(encodeFrame(reply));
    this.metrics.ackLatencySeconds.observe(Number(process.hrtime.bigint() - frameEndedAt) / 1e9);
  }

  private endIfIdle(connection: ConnectionState): void {
    if (connection.inFlight === 0 && !connection.decoder.hasPartialFrame) {
      connection.socket.end();
    }
  }
}
