/**
 * Kill -9 fault test of the HL7 listener. It runs the listener (src/main.ts) as a child process and
 * sends N ORU^R01 messages over several MLLP connections the way an interface engine does: one message
 * in flight per connection, and after a reconnect it resends whatever was not acknowledged. Midway it
 * kills the child with SIGKILL and starts it again on the same database. After the last ACK it waits
 * for processing and checks that every acknowledged message is in HAPI exactly once.
 *
 *   npx tsx bench/hl7-kill9.ts [--messages 10000] [--connections 8] [--patients 20]
 *       [--kill-at 0.5] [--mode immediate|enhanced|original] [--concurrency 8] [--wait-ms 1800000]
 *       [--keep-db]
 *
 * It needs the peers (HAPI FHIR and FerretDB, see peers/peers.sh) and uses a database of its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import { HL7_RESULT_ID_SYSTEM, connectMongo, createFhirClient, loadConfig } from '@monitormed/common';
import { MessageStore, MllpFrameDecoder, encodeFrame } from '@monitormed/hl7-listener';
import { TEST_MRN_SYSTEM } from '../hl7-listener/src/test-support/fhir.js';
import { buildOru } from '../hl7-listener/src/test-support/pipeline-harness.js';
import { LISTENER_NODE_FLAGS } from '../hl7-listener/src/node-flags.js';

/** Options of {@link runKill9}. */
export interface Kill9Options {
  messages: number;
  connections: number;
  patients: number;
  /** Fraction of the messages acknowledged before the SIGKILL. */
  killAt: number;
  mode: 'immediate' | 'enhanced' | 'original';
  keepDatabase: boolean;
  /** HL7_PROCESSING_CONCURRENCY of the listener. */
  concurrency: number;
  /** How long to wait for processing after the last ACK. */
  waitMs: number;
  /** Receives progress lines; silent by default. */
  log?: (line: string) => void;
}

/** Outcome of one run. */
export interface Kill9Result {
  messages: number;
  connections: number;
  mode: string;
  /** Messages with a positive acknowledgment (AA, or CA in enhanced mode). */
  acknowledged: number;
  /** Sends repeated after a connection broke. */
  resent: number;
  /** Stored messages still unfinished when the wait ended. */
  unfinished: number;
  /** Acknowledged messages with no Observation in HAPI. */
  missing: string[];
  /** Acknowledged messages with more than one Observation in HAPI. */
  duplicated: string[];
  killedAfterAcks: number;
  acceptSeconds: number;
  processingSeconds: number;
  passed: boolean;
}

const LISTENER_MAIN = fileURLToPath(new URL('../hl7-listener/src/main.ts', import.meta.url));
const FACILITY = 'MMDEMOHOSP';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  return port;
}

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/** The listener child process, restartable on the same port and database. */
class ListenerChild {
  private child: ChildProcess | undefined;

  constructor(private readonly env: Record<string, string>) {}

  async start(port: number): Promise<void> {
    this.child = spawn(process.execPath, [...LISTENER_NODE_FLAGS, '--import', 'tsx', LISTENER_MAIN], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    // Ready once the port accepts connections.
    for (let tries = 0; tries < 300; tries += 1) {
      if (this.child.exitCode !== null) {
        throw new Error(`Listener exited with status ${this.child.exitCode} during start`);
      }
      const open = await new Promise<boolean>((resolve) => {
        const probe = connect({ host: '127.0.0.1', port }, () => {
          probe.destroy();
          resolve(true);
        });
        probe.on('error', () => {
          resolve(false);
        });
      });
      if (open) {
        return;
      }
      await sleep(100);
    }
    throw new Error(`Listener did not open port ${port} within 30 s`);
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
      return;
    }
    const exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        resolve();
      })
    );
    child.kill(signal);
    await exited;
  }
}

/** One MLLP connection of the simulated interface engine. */
class SenderConnection {
  private socket: Socket | undefined;
  private decoder = new MllpFrameDecoder(1024 * 1024);
  private replies: string[] = [];
  private wake: (() => void) | undefined;
  private broken = true;

  constructor(private readonly port: number) {}

  private async connect(): Promise<void> {
    for (;;) {
      try {
        const socket = connect({ host: '127.0.0.1', port: this.port });
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        });
        this.socket = socket;
        this.decoder = new MllpFrameDecoder(1024 * 1024);
        this.replies = [];
        this.broken = false;
        socket.on('data', (data: Buffer) => {
          for (const event of this.decoder.push(data)) {
            if (event.kind === 'frame') {
              this.replies.push(event.payload.toString('utf8'));
            }
          }
          this.wake?.();
        });
        const markBroken = (): void => {
          this.broken = true;
          this.wake?.();
        };
        socket.on('close', markBroken);
        socket.on('error', markBroken);
        return;
      } catch {
        await sleep(100);
      }
    }
  }

  /**
   * Sends a message and waits for its accept-level reply, reconnecting and resending until one arrives.
   * @returns The MSA-1 code and the number of resends.
   */
  async deliver(
    text: string,
    controlId: string,
    timeoutMs: number
  ): Promise<{ code: string; resends: number }> {
    let resends = -1;
    for (;;) {
      if (this.broken) {
        this.socket?.destroy();
        await this.connect();
      }
      resends += 1;
      this.socket?.write(encodeFrame(text));
      const code = await this.awaitAck(controlId, timeoutMs);
      if (code !== undefined) {
        return { code, resends };
      }
      this.broken = true;
    }
  }

  private async awaitAck(controlId: string, timeoutMs: number): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // Application ACKs of earlier messages (enhanced mode) are skipped; only this message's ACK counts.
      while (this.replies.length > 0) {
        const reply = this.replies.shift() ?? '';
        const msa =
          reply
            .split('\r')
            .find((segment) => segment.startsWith('MSA|'))
            ?.split('|') ?? [];
        if (msa[2] === controlId) {
          return msa[1];
        }
      }
      if (this.broken || Date.now() >= deadline) {
        return undefined;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  close(): void {
    this.socket?.end();
  }
}

/** Reads `hl7_processing_queue_depth` from the listener's metrics, or undefined when the request fails. */
async function readQueueDepth(httpPort: number): Promise<number | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const match = /^hl7_processing_queue_depth (\d+)$/m.exec(text);
    return match?.[1] === undefined ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

async function countObservations(
  fhir: ReturnType<typeof createFhirClient>,
  patientIds: string[]
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const prefix = `${FACILITY}|`;
  for (const patientId of patientIds) {
    let bundle = (await fhir.search({
      resourceType: 'Observation',
      searchParams: { patient: `Patient/${patientId}`, _count: '1000', _elements: 'identifier' },
      options: { headers: { 'Cache-Control': 'no-cache' } },
    })) as unknown as Bundle<Observation> | undefined;
    while (bundle !== undefined) {
      for (const entry of bundle.entry ?? []) {
        const value =
          entry.resource?.identifier?.find((id) => id.system === HL7_RESULT_ID_SYSTEM)?.value ?? '';
        if (value.startsWith(prefix)) {
          const controlId = value.slice(prefix.length).split('|')[0] ?? '';
          counts.set(controlId, (counts.get(controlId) ?? 0) + 1);
        }
      }
      const hasNext = (bundle.link ?? []).some((link) => link.relation === 'next');
      bundle = hasNext
        ? ((await fhir.nextPage({
            bundle: bundle as unknown as Parameters<typeof fhir.nextPage>[0]['bundle'],
          })) as unknown as Bundle<Observation> | undefined)
        : undefined;
    }
  }
  return counts;
}

/**
 * Runs the fault test once.
 * @returns The counts and the lists of missing and duplicated messages. `passed` is true when every
 *   acknowledged message is in HAPI exactly once and nothing stayed unfinished.
 */
export async function runKill9(options: Kill9Options): Promise<Kill9Result> {
  const log = options.log ?? (() => undefined);
  const config = loadConfig();
  const fhir = createFhirClient(config);
  const runId = randomBytes(4).toString('hex').toUpperCase();
  const database = `monitormed_kill9_${runId.toLowerCase()}`;
  const mongo = await connectMongo({ mongoUrl: config.mongoUrl, mongoDatabase: database }, 5_000);
  const port = await freePort();
  const httpPort = await freePort();
  const child = new ListenerChild({
    MLLP_PORT: String(port),
    MONGO_DATABASE: database,
    HL7_HTTP_PORT: String(httpPort),
    LOG_LEVEL: 'error',
    HL7_CHANNELS: JSON.stringify([{ name: 'kill9', ackMode: options.mode, duplicatePolicy: 'reject' }]),
    HL7_RETRY_BASE_MS: '200',
    HL7_RETRY_MAX_DELAY_MS: '2000',
    HL7_LEASE_MS: '5000',
    HL7_PROCESSING_CONCURRENCY: String(options.concurrency),
  });

  try {
    log(`Creating ${options.patients} patients`);
    const patientMrns = Array.from({ length: options.patients }, (_unused, index) => `K9${runId}-${index}`);
    const patientIds: string[] = [];
    for (const mrn of patientMrns) {
      const patient = (await fhir.create({
        resourceType: 'Patient',
        body: { resourceType: 'Patient', identifier: [{ system: TEST_MRN_SYSTEM, value: mrn }] },
      })) as unknown as Patient;
      patientIds.push(patient.id ?? '');
    }

    await child.start(port);
    const controlIds = Array.from({ length: options.messages }, (_unused, index) => `K${runId}-${index}`);
    const connections = Array.from({ length: options.connections }, () => new SenderConnection(port));
    const killAfter = Math.floor(options.messages * options.killAt);
    const positive = options.mode === 'enhanced' ? 'CA' : 'AA';
    const acknowledged: string[] = [];
    let resent = 0;
    let killed: Promise<void> | undefined;
    let killedAfterAcks = 0;

    const acceptStart = Date.now();
    log(
      `Sending ${options.messages} messages over ${options.connections} connections (${options.mode} mode)`
    );
    await Promise.all(
      connections.map(async (connection, lane) => {
        for (let index = lane; index < controlIds.length; index += options.connections) {
          const controlId = controlIds[index] ?? '';
          const text = buildOru({ controlId, patientId: patientMrns[index % patientMrns.length] ?? '' });
          const { code, resends } = await connection.deliver(text, controlId, 20_000);
          resent += resends;
          if (code === positive || (options.mode === 'enhanced' && code === 'AA')) {
            acknowledged.push(controlId);
          }
          if (killed === undefined && acknowledged.length >= killAfter) {
            killedAfterAcks = acknowledged.length;
            log(`SIGKILL after ${killedAfterAcks} ACKs`);
            killed = child.kill('SIGKILL').then(() => child.start(port));
          }
        }
        connection.close();
      })
    );
    await killed;
    const acceptSeconds = (Date.now() - acceptStart) / 1000;

    log('Waiting for processing');
    const processingStart = Date.now();
    const store = new MessageStore(mongo.db);
    let unfinished = Number.POSITIVE_INFINITY;
    const deadline = Date.now() + options.waitMs;
    while (Date.now() < deadline) {
      // The listener's queue depth gauge is cheap to read; counting the queue segments reads them whole,
      // so it only confirms a depth of 0.
      const depth = await readQueueDepth(httpPort);
      if (depth === 0) {
        unfinished = await store.countUnfinished();
        if (unfinished === 0) {
          break;
        }
      }
      log(`${depth ?? 'unknown'} messages still unfinished`);
      await sleep(5_000);
    }
    const processingSeconds = (Date.now() - processingStart) / 1000;

    log('Checking HAPI');
    const counts = await countObservations(fhir, patientIds);
    const missing = acknowledged.filter((controlId) => (counts.get(controlId) ?? 0) === 0);
    const duplicated = acknowledged.filter((controlId) => (counts.get(controlId) ?? 0) > 1);
    return {
      messages: options.messages,
      connections: options.connections,
      mode: options.mode,
      acknowledged: acknowledged.length,
      resent,
      unfinished,
      missing,
      duplicated,
      killedAfterAcks,
      acceptSeconds,
      processingSeconds,
      passed:
        acknowledged.length === options.messages &&
        missing.length === 0 &&
        duplicated.length === 0 &&
        unfinished === 0,
    };
  } finally {
    await child.kill('SIGTERM');
    if (!options.keepDatabase) {
      await mongo.db.dropDatabase();
    }
    await mongo.client.close();
  }
}

function parseOptions(args: string[]): Kill9Options {
  const value = (name: string, fallback: string): string => {
    const index = args.indexOf(name);
    return index === -1 ? fallback : (args[index + 1] ?? '');
  };
  const integer = (name: string, fallback: number): number => {
    const parsed = Number(value(name, String(fallback)));
    if (!Number.isInteger(parsed) || parsed < 1) {
      throw new Error(`Invalid ${name}: expected a positive integer.`);
    }
    return parsed;
  };
  const mode = value('--mode', 'immediate');
  if (mode !== 'immediate' && mode !== 'enhanced' && mode !== 'original') {
    throw new Error('Invalid --mode: expected immediate, enhanced or original.');
  }
  const killAt = Number(value('--kill-at', '0.5'));
  if (!(killAt > 0 && killAt < 1)) {
    throw new Error('Invalid --kill-at: expected a fraction between 0 and 1, such as 0.5.');
  }
  return {
    messages: integer('--messages', 10_000),
    connections: integer('--connections', 8),
    patients: integer('--patients', 20),
    killAt,
    mode,
    keepDatabase: args.includes('--keep-db'),
    concurrency: integer('--concurrency', 8),
    waitMs: integer('--wait-ms', 30 * 60_000),
    log: (line) => {
      process.stderr.write(`${new Date().toISOString()} ${line}\n`);
    },
  };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const result = await runKill9(parseOptions(process.argv.slice(2)));
    process.stdout.write(
      `${JSON.stringify({ ...result, missing: result.missing.slice(0, 20), duplicated: result.duplicated.slice(0, 20) }, null, 2)}\n`
    );
    process.exitCode = result.passed ? 0 : 1;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
