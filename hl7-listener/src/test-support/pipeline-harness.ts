/** Helpers of the durability, ACK-mode and duplicate tests: messages, patients, a switchable FHIR client. */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Patient } from '@medplum/fhirtypes';
import { createFhirClient, loadConfig, type FhirClient, type MongoHandle } from '@monitormed/common';
import { MllpFrameDecoder } from '../mllp/framing.js';
import { MessageStore, type StoredDocument } from '../store/message-store.js';
import { TEST_MRN_SYSTEM } from './fhir.js';
import { loadFixture } from './peers.js';

/** Options of {@link buildOru}. */
export interface OruOptions {
  controlId: string;
  patientId: string;
  /** OBX-5 probability; 0.82 by default. */
  value?: string;
  /** MSH-15 and MSH-16; both empty (original mode) by default. */
  acceptAckType?: string;
  applicationAckType?: string;
  /** MSH-3.1; SEPSISAI by default. */
  sendingApplication?: string;
}

/**
 * Builds an ORU^R01 with one sepsis-risk AI result from the sepsis fixture, with MSH-15/MSH-16 appended
 * when asked for.
 */
export function buildOru(options: OruOptions): string {
  let text = loadFixture('oru-r01-sepsis-ai.hl7', {
    CONTROL_ID: options.controlId,
    PATIENT_ID: options.patientId,
  });
  if (options.value !== undefined) {
    text = text.replace('||0.82|', `||${options.value}|`);
  }
  if (options.sendingApplication !== undefined) {
    text = text.replace('MSH|^~\\&|SEPSISAI^', `MSH|^~\\&|${options.sendingApplication}^`);
  }
  if (options.acceptAckType !== undefined || options.applicationAckType !== undefined) {
    // MSH-12 is the last field of the fixture's MSH; MSH-13 and MSH-14 stay empty.
    text = text.replace(
      '|P|2.5.1\r',
      `|P|2.5.1|||${options.acceptAckType ?? ''}|${options.applicationAckType ?? ''}\r`
    );
  }
  return text;
}

/** Creates a test Patient with the MRN the fixtures carry in PID-3. */
export async function createTestPatient(fhir: FhirClient, patientId: string): Promise<Patient> {
  return (await fhir.create({
    resourceType: 'Patient',
    body: {
      resourceType: 'Patient',
      identifier: [{ system: TEST_MRN_SYSTEM, value: patientId }],
      gender: 'female',
      birthDate: '1970-01-01',
    },
  })) as unknown as Patient;
}

/** Returns a message store on a test database, to read messages with their outcome and queue state. */
export function messagesOf(mongo: MongoHandle): MessageStore {
  return new MessageStore(mongo.db);
}

/**
 * Reads the stored message with this MSH-10, merged with its outcome and queue state: the first version,
 * or a message stored outside duplicate detection (version 0) when there is no first version.
 */
export async function readMessage(
  store: MessageStore,
  controlId: string
): Promise<StoredDocument | undefined> {
  const views = await store.findViews({ controlId });
  return views.find((view) => view.version === 1) ?? views[0];
}

/** Thrown when a condition a test waits for does not come true in time. */
export class WaitTimeoutError extends Error {
  constructor(what: string, timeoutMs: number) {
    super(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    this.name = 'WaitTimeoutError';
  }
}

/**
 * Polls until `check` returns a value other than undefined.
 * @throws WaitTimeoutError naming `what` when it does not in time.
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 15_000
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new WaitTimeoutError(what, timeoutMs);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits until the stored message with this MSH-10 (first version) reaches one of `statuses`. */
export function waitForStatus(
  store: MessageStore,
  controlId: string,
  statuses: string[],
  timeoutMs = 15_000
): Promise<StoredDocument> {
  return waitUntil(
    `message ${controlId} to reach ${statuses.join(' or ')}`,
    async () => {
      const document = await readMessage(store, controlId);
      return document !== undefined && statuses.includes(document.status) ? document : undefined;
    },
    timeoutMs
  );
}

/**
 * Returns a loopback port with nothing listening on it: bound on port 0, then closed, so a connection is
 * refused at once.
 */
export async function closedLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    })
  );
  return port;
}

/** A FHIR client whose requests go to a closed loopback port until `connect()` points it at the real HAPI. */
export interface SwitchableFhir {
  client: FhirClient;
  connect(): void;
  disconnect(): void;
}

/** Reads `property` of `target` for a Proxy, with methods bound to `target`. */
export function forwardedProperty(target: object, property: string | symbol): unknown {
  const value: unknown = Reflect.get(target, property);
  return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
}

/**
 * Creates a {@link SwitchableFhir}, starting unreachable. It switches whole clients (fhir-kit-client keeps
 * its base URL per instance), through a Proxy that forwards every property to the current one.
 */
export async function createSwitchableFhir(): Promise<SwitchableFhir> {
  const config = loadConfig();
  const unreachable = createFhirClient({
    ...config,
    fhirBaseUrl: `http://127.0.0.1:${await closedLoopbackPort()}/fhir`,
  });
  const real = createFhirClient(config);
  let current = unreachable;
  const client = new Proxy(real, {
    get: (_target, property) => forwardedProperty(current, property),
  });
  return {
    client,
    connect: () => {
      current = real;
    },
    disconnect: () => {
      current = unreachable;
    },
  };
}

/** A loopback MLLP receiver that collects every framed message, standing in for a sender's return address. */
export interface MllpSink {
  port: number;
  messages: string[];
  close(): Promise<void>;
}

/** Starts an {@link MllpSink} on a free loopback port. */
export async function startMllpSink(): Promise<MllpSink> {
  const messages: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    const decoder = new MllpFrameDecoder(1024 * 1024);
    socket.on('data', (data: Buffer) => {
      for (const event of decoder.push(data)) {
        if (event.kind === 'frame') {
          messages.push(event.payload.toString('utf8'));
        }
      }
    });
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let closing: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    messages,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        for (const socket of sockets) {
          socket.destroy();
        }
        server.close(() => {
          resolve();
        });
      });
      return closing;
    },
  };
}
