/** Load generator of the MLLP benchmark: connections that time each ACK, closed-loop and fixed-rate runs. */
import { connect, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { MllpFrameDecoder } from '@monitormed/hl7-listener';

/** How long a closed-loop run waits past its duration for the ACKs still due. */
const STUCK_GRACE_MS = 5_000;

/** How long a fixed-rate run waits after its last send for the ACKs still due. */
const FIXED_RATE_DRAIN_MS = 30_000;

/** Returns the next message to send, already framed. */
export type FrameSource = () => Buffer;

/** Latencies and counts of one run. */
export interface RunResult {
  /** Messages written. */
  sent: number;
  /** ACKs received with an expected code. */
  acknowledged: number;
  elapsedSeconds: number;
  /** ACK latencies in milliseconds, sorted. */
  latenciesMs: number[];
  /** ACKs by MSA-1 code. */
  codes: Map<string, number>;
  /** Replies with a code the run does not wait for, such as enhanced-mode application ACKs. */
  otherReplies: number;
}

interface Pending {
  startedAtNs: bigint;
  /** Called with true when the ACK arrives, or false when the run gives up on the message. */
  resolve: (answered: boolean) => void;
}

/** Reads MSA-1 from an ACK. */
function ackCode(reply: string): string {
  const start = reply.indexOf('\rMSA') + 1;
  return start === 0 ? '' : reply.slice(start + 4, start + 6);
}

/** Returns the value at quantile `q` (0 to 1) of sorted values, by the nearest-rank method. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) {
    return Number.NaN;
  }
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? Number.NaN;
}

/**
 * One MLLP connection that sends frames and matches each ACK with an expected code to the oldest
 * message waiting, because MLLP replies in order on a connection.
 */
export class BenchConnection {
  private readonly decoder = new MllpFrameDecoder(64 * 1024 * 1024);
  private readonly pending: Pending[] = [];

  private constructor(
    private readonly socket: Socket,
    private readonly result: RunResult,
    private readonly expectedCodes: Set<string>
  ) {
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => {
      const receivedAtNs = process.hrtime.bigint();
      for (const event of this.decoder.push(data)) {
        if (event.kind === 'frame') {
          this.settle(ackCode(event.payload.toString('latin1')), receivedAtNs);
        }
      }
    });
  }

  /** Opens a connection to `127.0.0.1:port`. */
  static async open(port: number, result: RunResult, expectedCodes: Set<string>): Promise<BenchConnection> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new BenchConnection(socket, result, expectedCodes);
  }

  /**
   * Sends one frame.
   * @param startedAtNs - Start of the latency: now, or the scheduled send time of a fixed-rate run.
   * @returns True when its ACK arrives, false when {@link abandon} gives up on it first.
   */
  send(frame: Buffer, startedAtNs = process.hrtime.bigint()): Promise<boolean> {
    return new Promise((resolve) => {
      this.result.sent += 1;
      this.pending.push({ startedAtNs, resolve });
      this.socket.write(frame);
    });
  }

  /** Stops waiting for the ACKs still due: their sends resolve false and are not counted. */
  abandon(): void {
    for (const waiting of this.pending.splice(0)) {
      waiting.resolve(false);
    }
  }

  close(): void {
    this.abandon();
    this.socket.destroy();
  }

  private settle(code: string, receivedAtNs: bigint): void {
    if (!this.expectedCodes.has(code)) {
      this.result.otherReplies += 1;
      return;
    }
    const waiting = this.pending.shift();
    if (waiting === undefined) {
      this.result.otherReplies += 1;
      return;
    }
    this.result.acknowledged += 1;
    this.result.codes.set(code, (this.result.codes.get(code) ?? 0) + 1);
    this.result.latenciesMs.push(Number(receivedAtNs - waiting.startedAtNs) / 1e6);
    waiting.resolve(true);
  }
}

/** Abandons the ACKs still due on every connection after `delayMs`, unless the timer is cleared first. */
function abandonAfter(connections: BenchConnection[], delayMs: number): NodeJS.Timeout {
  return setTimeout(() => {
    for (const connection of connections) {
      connection.abandon();
    }
  }, delayMs);
}

function emptyResult(): RunResult {
  return { sent: 0, acknowledged: 0, elapsedSeconds: 0, latenciesMs: [], codes: new Map(), otherReplies: 0 };
}

/**
 * Closed loop: each connection sends a message, waits for its ACK and sends the next, until `durationMs`.
 * @returns Counts and sorted latencies; messages still waiting at the end are not counted.
 */
export async function runClosedLoop(
  port: number,
  nextFrame: FrameSource,
  connectionCount: number,
  durationMs: number,
  expectedCodes: Set<string>
): Promise<RunResult> {
  const result = emptyResult();
  const connections = await Promise.all(
    Array.from({ length: connectionCount }, () => BenchConnection.open(port, result, expectedCodes))
  );
  const startedAt = performance.now();
  const deadline = startedAt + durationMs;

  // One timer for the run ends a connection stuck on an unanswered message. A timer per send would fire
  // all at once seconds later (360,000 after an echo run) and stall the next run's schedule by 100 to 200 ms.
  const giveUp = abandonAfter(connections, durationMs + STUCK_GRACE_MS);
  await Promise.all(
    connections.map(async (connection) => {
      while (performance.now() < deadline) {
        if (!(await connection.send(nextFrame()))) {
          return;
        }
      }
    })
  );
  clearTimeout(giveUp);

  result.elapsedSeconds = (performance.now() - startedAt) / 1000;
  result.latenciesMs.sort((a, b) => a - b);
  for (const connection of connections) {
    connection.close();
  }
  return result;
}

/**
 * Fixed rate: message i is due at start + i / ratePerSecond, on connection i mod `connectionCount`, and
 * its latency counts from when it was due. A connection still waiting for an earlier ACK sends late, so
 * the latency includes the queueing a real sender would see (no coordinated omission).
 */
export async function runFixedRate(
  port: number,
  nextFrame: FrameSource,
  connectionCount: number,
  ratePerSecond: number,
  durationMs: number,
  expectedCodes: Set<string>
): Promise<RunResult> {
  const result = emptyResult();
  const connections = await Promise.all(
    Array.from({ length: connectionCount }, () => BenchConnection.open(port, result, expectedCodes))
  );
  const chains: Promise<void>[] = connections.map(() => Promise.resolve());
  const total = Math.round((ratePerSecond * durationMs) / 1000);
  const intervalNs = BigInt(Math.round(1e9 / ratePerSecond));
  const startNs = process.hrtime.bigint();

  for (let index = 0; index < total; index += 1) {
    const dueNs = startNs + BigInt(index) * intervalNs;
    const waitMs = Number(dueNs - process.hrtime.bigint()) / 1e6;
    if (waitMs > 1) {
      await delay(waitMs);
    }
    const slot = index % connectionCount;
    const connection = connections[slot];
    if (connection !== undefined) {
      // A message sent a little early (timers fire at millisecond resolution) counts from its send time.
      chains[slot] = (chains[slot] ?? Promise.resolve()).then(async () => {
        const nowNs = process.hrtime.bigint();
        await connection.send(nextFrame(), nowNs > dueNs ? dueNs : nowNs);
      });
    }
  }
  const giveUp = abandonAfter(connections, FIXED_RATE_DRAIN_MS);
  await Promise.all(chains);
  clearTimeout(giveUp);

  result.elapsedSeconds = Number(process.hrtime.bigint() - startNs) / 1e9;
  result.latenciesMs.sort((a, b) => a - b);
  for (const connection of connections) {
    connection.close();
  }
  return result;
}
