/**
 * Starts the MonitorMed services in-process on free ports against the running peers, each test run
 * with its own MongoDB database, bull prefix and Subscription, so runs never see each other's data.
 */
import { randomUUID } from 'node:crypto';
import { connectMongo, loadConfig, type MonitorMedConfig, type MongoHandle } from '@monitormed/common';
import { startAnalyzers } from '@monitormed/analyzers';
import { startFhirServerExt } from '@monitormed/fhir-server-ext';
import { startListener, type ListenerConfig } from '@monitormed/hl7-listener';

/** A started stack and what the tests need to reach it. */
export interface TestStack {
  config: MonitorMedConfig;
  mllpPort: number;
  mongo: MongoHandle;
  runId: string;
  /** Stops every service, drops the run's database and deletes its Subscription; safe to call twice. */
  close(): Promise<void>;
}

/** Thrown when a peer the tests need does not respond. */
export class PeerUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PeerUnavailableError';
  }
}

async function requireHapi(fhirBaseUrl: string): Promise<void> {
  try {
    const response = await fetch(`${fhirBaseUrl}/metadata`, { signal: AbortSignal.timeout(10_000) });
    if (response.ok) {
      return;
    }
  } catch {
    // Reported below with the fix.
  }
  throw new PeerUnavailableError(
    `HAPI FHIR is not answering at ${fhirBaseUrl}; start the peers with "peers/peers.sh start all".`
  );
}

/**
 * Starts hl7-listener, fhir-server-ext and analyzers for one test file.
 * @param listenerOverrides - Listener settings such as `createMissingPatients`.
 * @returns The running stack.
 */
export async function startTestStack(listenerOverrides: Partial<ListenerConfig> = {}): Promise<TestStack> {
  const runId = randomUUID().slice(0, 8);
  const config: MonitorMedConfig = { ...loadConfig(), mongoDatabase: `monitormed_test_${runId}` };
  await requireHapi(config.fhirBaseUrl);

  const mongo = await connectMongo(config, 5_000).catch((err: unknown) => {
    throw new PeerUnavailableError(
      `MongoDB (FerretDB) is not answering at ${config.mongoUrl}: ${String(err)}. Start the peers with "peers/peers.sh start all".`
    );
  });
  const queuePrefix = `monitormed-test-${runId}`;
  const closers: (() => Promise<void>)[] = [
    () => mongo.client.close(),
    () => mongo.db.dropDatabase().then(() => undefined),
  ];

  const closeAll = async (): Promise<void> => {
    for (const close of closers.reverse()) {
      await close().catch(() => undefined);
    }
  };

  try {
    const listener = await startListener({ config: { ...config, mllpPort: 0, ...listenerOverrides }, mongo });
    closers.push(() => listener.close());
    const ext = await startFhirServerExt({
      config,
      port: 0,
      queuePrefix,
      subscriptionOwner: `test-${runId}`,
      removeSubscriptionOnClose: true,
    });
    closers.push(() => ext.close());
    const analyzers = await startAnalyzers({ config, queuePrefix });
    closers.push(() => analyzers.close());

    let closing: Promise<void> | undefined;
    return {
      config,
      mllpPort: listener.port,
      mongo,
      runId,
      close: () => {
        closing ??= closeAll();
        return closing;
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

export { waitFor } from '@monitormed/common';
