/**
 * A small MLLP client (HL7 v2 Minimal Lower Layer Protocol, HL7 v2.5.1 Appendix C): each message is sent
 * as VT <message> FS CR, and the client waits for the ACK of one message before sending the next.
 */
import net from 'node:net';
import { MLLP_END_TEXT, MLLP_START_TEXT } from '@monitormed/common';
import { MllpError } from './mllp-error.js';

/** Start of an MLLP block (vertical tab). */
export const MLLP_START = MLLP_START_TEXT;
/** End of an MLLP block (file separator followed by carriage return). */
export const MLLP_END = MLLP_END_TEXT;

/** Options of {@link MllpClient}. */
export interface MllpClientOptions {
  host: string;
  port: number;
  /** Time to wait for each ACK. */
  ackTimeoutMs?: number;
  connectTimeoutMs?: number;
}

/** The acknowledgment of one message. */
export interface AckResult {
  /** MSA-1: AA, AE or AR (CA, CE, CR in enhanced mode). */
  code: string;
  /** MSA-2: control id of the acknowledged message. */
  controlId: string;
  /** The ACK as received, without framing. */
  raw: string;
}

/** ACK counts by the second letter of MSA-1, so that CA, CE and CR count as AA, AE and AR. */
export interface AckCounts {
  AA: number;
  AE: number;
  AR: number;
}

/**
 * Wraps an HL7 v2 message in an MLLP block.
 * @param message - Segments joined by carriage returns.
 * @returns The framed message.
 */
export function frameMllp(message: string): string {
  return `${MLLP_START}${message}${MLLP_END}`;
}

/**
 * Reads MSA-1 and MSA-2 from an ACK.
 * @param ack - The ACK without framing.
 * @returns The code and control id.
 * @throws MllpError when the ACK has no MSA segment.
 */
export function parseAck(ack: string): AckResult {
  const segments = ack.split(/\r\n|\r|\n/);
  const msh = segments.find((s) => s.startsWith('MSH'));
  const fieldSeparator = msh?.charAt(3) ?? '|';
  const msa = segments.find((s) => s.startsWith(`MSA${fieldSeparator}`));
  if (msa === undefined) {
    throw new MllpError('ACK has no MSA segment.');
  }
  const fields = msa.split(fieldSeparator);
  return { code: fields[1] ?? '', controlId: fields[2] ?? '', raw: ack };
}

/** Sends HL7 v2 messages over one MLLP connection, one at a time. */
export class MllpClient {
  readonly counts: AckCounts = { AA: 0, AE: 0, AR: 0 };
  private readonly options: Required<MllpClientOptions>;
  private socket: net.Socket | undefined;
  private buffer = '';
  private pending: { resolve: (ack: string) => void; reject: (err: Error) => void } | undefined;
  /** Serialises send() calls so that each ACK belongs to the message just sent. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: MllpClientOptions) {
    this.options = { ackTimeoutMs: 30_000, connectTimeoutMs: 10_000, ...options };
  }

  /**
   * Opens the TCP connection.
   * @throws MllpError when the listener cannot be reached in time.
   */
  async connect(): Promise<void> {
    if (this.socket !== undefined) {
      return;
    }
    const { host, port, connectTimeoutMs } = this.options;
    const socket = net.createConnection({ host, port });
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    this.buffer = '';

    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new MllpError(
            `Connecting to the MLLP listener at ${host}:${String(port)} timed out after ${String(connectTimeoutMs)} ms.`
          )
        );
      }, connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(
          new MllpError(
            `Cannot connect to the MLLP listener at ${host}:${String(port)}: ${err.message}. Is it running?`
          )
        );
      });
    });

    socket.on('data', (chunk: string) => {
      this.onData(chunk);
    });
    // Events of a connection that was already replaced (after an ACK timeout) must not fail the new one.
    socket.on('error', (err) => {
      if (this.socket === socket) {
        this.failPending(new MllpError(`MLLP connection failed: ${err.message}`));
      }
    });
    socket.on('close', () => {
      if (this.socket === socket) {
        this.socket = undefined;
        this.failPending(new MllpError('The MLLP listener closed the connection before sending the ACK.'));
      }
    });
    this.socket = socket;
  }

  /**
   * Sends one message and waits for its ACK.
   * @param message - HL7 v2 message, segments joined by carriage returns.
   * @returns The parsed ACK; its code is also added to {@link counts}.
   * @throws MllpError on timeout, a closed connection, an ACK without MSA, or an ACK for another message.
   */
  send(message: string): Promise<AckResult> {
    const run = this.queue.then(() => this.sendNow(message));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async sendNow(message: string): Promise<AckResult> {
    await this.connect();
    const socket = this.socket;
    if (socket === undefined) {
      throw new MllpError('The MLLP connection closed before the message could be sent.');
    }

    const ackText = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        // A late ACK would be matched to the next message, so the connection is dropped.
        this.socket = undefined;
        this.buffer = '';
        socket.destroy();
        reject(new MllpError(`No ACK within ${String(this.options.ackTimeoutMs)} ms.`));
      }, this.options.ackTimeoutMs);
      this.pending = {
        resolve: (ack) => {
          clearTimeout(timer);
          resolve(ack);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      socket.write(frameMllp(message));
    });

    const ack = parseAck(ackText);
    const sentControlId = message.split('\r')[0]?.split('|')[9] ?? '';
    if (ack.controlId !== sentControlId) {
      throw new MllpError(`ACK is for control id "${ack.controlId}", expected "${sentControlId}".`);
    }
    const kind = `A${ack.code.charAt(1)}`;
    if (kind === 'AA' || kind === 'AE' || kind === 'AR') {
      this.counts[kind]++;
    }
    return ack;
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let end = this.buffer.indexOf(MLLP_END);
    while (end !== -1) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + MLLP_END.length);
      const start = block.indexOf(MLLP_START);
      const ack = start === -1 ? block : block.slice(start + 1);
      const pending = this.pending;
      this.pending = undefined;
      pending?.resolve(ack);
      end = this.buffer.indexOf(MLLP_END);
    }
  }

  private failPending(err: Error): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(err);
  }

  /** Closes the connection; safe to call more than once. */
  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket === undefined || socket.destroyed) {
      return;
    }
    await new Promise<void>((resolve) => {
      socket.once('close', () => {
        resolve();
      });
      socket.end();
      // A listener that never closes its side must not keep the process alive.
      setTimeout(() => {
        socket.destroy();
      }, 2000).unref();
    });
  }
}
