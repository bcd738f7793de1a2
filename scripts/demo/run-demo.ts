import { connectMongo, loadConfig, loadModelCatalog, type MonitorMedConfig } from '@monitormed/common';
import { runScenario, type AckCounts, type ScenarioOptions } from '@monitormed/synthea-data';
import { AI_OBSERVATION_CRITERIA } from '@monitormed/fhir-server-ext';
import { runPeersScript } from './peers.js';
import { countEarlierResults, prepareDemoPatients } from './patients.js';
import { startDemoServices, type DemoPorts, type DemoServices } from './services.js';
import { clearAnalysisQueues, waitForAnalysis } from './settle.js';
import { collectCounts, type ModelDriftSummary } from './summary.js';

/** Options of {@link runDemo}; every field has a default. */
export interface DemoOptions {
  /** Run `peers/peers.sh install` and `start all` first (default true). */
  startPeers?: boolean;
  /** Synthea patients to load and simulate (default 20). */
  patients?: number;
  /** Simulated days (default 10). */
  days?: number;
  /** Day on which the imaging model's scanner changes (default 6); 0 disables the drift. */
  driftDay?: number;
  /** Seed of Synthea and of the scenario (default 42). */
  seed?: number;
  /** Results per model per day (default: the scenario's). */
  resultsPerModelPerDay?: number;
  /** MongoDB database the demo owns; it is emptied at start (default `monitormed_demo`). */
  mongoDatabase?: string;
  /** Ports of the services; 0 picks a free one (defaults: the configured ports). */
  ports?: DemoPorts;
  /** Bull key prefix (default `monitormed-demo`). */
  queuePrefix?: string;
  /**
   * Owner tag of the demo's Subscriptions, and whether to delete them on close. By default the owner is
   * `monitormed-demo` and the Subscriptions are deleted, because HAPI keeps retrying deliveries to a
   * stopped endpoint, which delays the deliveries of every other Subscription.
   */
  subscription?: { owner: string; removeOnClose: boolean };
  /**
   * Run ground-truth linking in fhir-server-ext (default: only when the GROUND_TRUTH variable is `on`).
   * It is off by default because the simulated days contain no confirming reports or results, so it
   * would link nothing, and its four Subscriptions add HAPI rest-hook deliveries for every Observation
   * version, which slows the analysis the demo waits for.
   */
  groundTruth?: boolean;
  /** How long to wait for the analysis to settle (default 20 minutes). */
  settleTimeoutMs?: number;
  /** Progress lines, by default to stderr. */
  log?: (line: string) => void;
  /**
   * Receives, before the first service starts, the function that stops what the demo started so far.
   * A signal handler calls it so a run stopped during setup still deletes its Subscriptions.
   */
  receiveClose?: (close: () => Promise<void>) => void;
}

/** The demo's result; the JSON form is the last line of `npm run demo -- --json`. */
export interface DemoSummary {
  patients: number;
  /** Ids of the demo's patients in the FHIR server. */
  patientIds: string[];
  patientSource: 'shared' | 'generated';
  days: number;
  driftInjected: { modelId: string; startDay: number; startWindow: string } | null;
  messagesSent: number;
  acks: AckCounts;
  fhirDirectWrites: number;
  observations: number;
  flags: number;
  models: Record<string, ModelDriftSummary>;
  urls: Record<string, string>;
  durationMs: number;
}

/** A finished demo whose services are still running. */
export interface DemoRun {
  summary: DemoSummary;
  /** Stops the services the demo started; the peers keep running. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Time the simulated interface engine waits for each ACK, and the listener's wait for processing before
 * an original-mode ACK. The listener's default (10 s) answers AE "stored, will be retried" to a message
 * whose processing takes longer, which happens on a loaded machine. The demo waits longer, as an
 * interface engine configured with a long ACK timeout does, so that it reports final ACKs.
 */
const DEMO_ACK_TIMEOUT_MS = 90_000;
const DEMO_ORIGINAL_ACK_WAIT_MS = 60_000;

/** Wraps a progress callback so that it runs at most once per interval. */
function throttle<T extends unknown[]>(
  intervalMs: number,
  report: (...args: T) => void
): (...args: T) => void {
  let last = Date.now();
  return (...args: T) => {
    if (Date.now() - last >= intervalMs) {
      last = Date.now();
      report(...args);
    }
  };
}

function addDays(day: string, offset: number): string {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + offset);
  return date.toISOString().slice(0, 10);
}

/**
 * Runs the whole demo: peers, services, Synthea patients, the simulated days of two AI models with a
 * drift in one of them, and the analysis. Then it reads back what the stack produced.
 * @param options - Sizes, seed and ports.
 * @returns The summary and a handle that stops the services.
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoRun> {
  const startedAt = Date.now();
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const seed = options.seed ?? 42;
  const days = options.days ?? 10;
  const driftDay = options.driftDay ?? 6;
  const queuePrefix = options.queuePrefix ?? 'monitormed-demo';
  const base = loadConfig();
  const config: MonitorMedConfig = { ...base, mongoDatabase: options.mongoDatabase ?? 'monitormed_demo' };
  const modelIds = loadModelCatalog().map((m) => m.modelId);
  const closers: (() => Promise<void>)[] = [];
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= closeAll(closers);
    return closing;
  };
  options.receiveClose?.(close);

  if (options.startPeers ?? true) {
    log('Starting the peers (HAPI FHIR, FerretDB, Redis); the first start builds them.');
    await runPeersScript(['install']);
    await runPeersScript(['start', 'all']);
  }

  // The demo owns its database and queues, so a rerun never mixes an earlier run's windows or jobs in.
  const mongo = await connectMongo(config);
  closers.push(() => mongo.client.close());
  await mongo.db.dropDatabase();
  await clearAnalysisQueues(config.redisUrl, queuePrefix);

  try {
    const patients = await prepareDemoPatients({
      fhirBaseUrl: config.fhirBaseUrl,
      count: options.patients ?? 20,
      seed,
      log,
    });
    log(
      `Loaded ${patients.patientIds.length} patients (${patients.load.created} resources created, 0 when an earlier run loaded them; ${patients.load.failures.length} bundle failures).`
    );

    if (patients.patientIds.length === 0) {
      throw new Error(
        `No demo patient was found in the FHIR server after loading ${patients.folder}; check the bundle failures above.`
      );
    }
    const earlier = await countEarlierResults(config.fhirBaseUrl, patients.patientIds);
    if (earlier > 0) {
      log(
        `HAPI FHIR already holds ${earlier} AI results of earlier demo runs on these patients, which slows this run's analysis. For a run at full speed, restart HAPI (peers/peers.sh stop hapi && peers/peers.sh start hapi), which empties its in-memory database.`
      );
    }

    // The analysis Subscription takes only the demo patients' AI results, so results that other
    // clients write to the same FHIR server never enter the demo's windows.
    const subscriptionCriteria = `${AI_OBSERVATION_CRITERIA}&patient=${patients.patientIds
      .map((id) => `Patient/${id}`)
      .join(',')}`;
    log('Starting hl7-listener, smart-app, the SMART authorization server, fhir-server-ext and analyzers.');
    const services = await startDemoServices({
      config,
      ports: options.ports ?? {},
      queuePrefix,
      subscriptionOwner: options.subscription?.owner ?? 'monitormed-demo',
      subscriptionCriteria,
      removeSubscriptionsOnClose: options.subscription?.removeOnClose ?? true,
      groundTruth: options.groundTruth ?? process.env['GROUND_TRUTH'] === 'on',
      originalAckWaitMs: DEMO_ORIGINAL_ACK_WAIT_MS,
      closers,
    });

    const scenarioOptions: ScenarioOptions = {
      days,
      seed,
      // A tag per run makes every run deliver new results, so all of them are analysed into the run's
      // fresh database. The values still come from the seed alone.
      runTag: Math.floor(startedAt / 1000).toString(36),
      drift: driftDay > 0 ? { startDay: driftDay } : null,
      ackTimeoutMs: DEMO_ACK_TIMEOUT_MS,
      patientIds: patients.patientIds,
      config: { fhirBaseUrl: config.fhirBaseUrl, mllpHost: config.mllpHost, mllpPort: services.mllpPort },
    };
    if (options.resultsPerModelPerDay !== undefined) {
      scenarioOptions.resultsPerModelPerDay = options.resultsPerModelPerDay;
    }
    log(`Simulating ${days} days of ${modelIds.join(' and ')}.`);
    scenarioOptions.onProgress = throttle(30_000, (done: number, total: number) => {
      log(`  ${done} of ${total} results sent.`);
    });
    const scenario = await runScenario(scenarioOptions);
    const expectedResults = Object.values(scenario.results).reduce((sum, r) => sum + r.total, 0);

    log(`Waiting for the analyzers to process ${expectedResults} results.`);
    const reportAnalysis = throttle(30_000, (analyzed: number, pending: number) => {
      log(
        `  ${analyzed} of ${expectedResults} results analysed; ${pending} analysis and drift jobs pending.`
      );
    });
    await waitForAnalysis({
      mongo,
      redisUrl: config.redisUrl,
      queuePrefix,
      expectedResults,
      modelIds,
      timeoutMs: options.settleTimeoutMs ?? 1_200_000,
      onProgress: reportAnalysis,
    });

    const counts = await collectCounts(config.fhirBaseUrl, mongo, modelIds, new Date(startedAt));
    const summary: DemoSummary = {
      patients: patients.patientIds.length,
      patientIds: patients.patientIds,
      patientSource: patients.source,
      days,
      driftInjected:
        scenario.drift === null
          ? null
          : {
              modelId: scenario.drift.modelId,
              startDay: scenario.drift.startDay,
              startWindow: addDays(scenario.dayRange.first, scenario.drift.startDay - 1),
            },
      messagesSent: scenario.messagesSent,
      acks: scenario.acks,
      fhirDirectWrites: scenario.fhirWrites,
      observations: counts.observations,
      flags: counts.flags,
      models: counts.models,
      urls: demoUrls(config, services, patients.patientIds[0]),
      durationMs: Date.now() - startedAt,
    };

    return { summary, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Builds the URLs the demo prints: where each service listens, and the pages a person opens to try the
 * SMART app through a real EHR or standalone launch.
 */
function demoUrls(
  config: MonitorMedConfig,
  services: DemoServices,
  firstPatientId: string | undefined
): Record<string, string> {
  const ehrQuery =
    firstPatientId === undefined ? '' : `?${new URLSearchParams({ patient: firstPatientId }).toString()}`;
  return {
    fhir: config.fhirBaseUrl,
    mllp: `mllp://${config.mllpHost}:${services.mllpPort}`,
    listenerMetrics: `${services.listenerHttpUrl}/metrics`,
    listenerHealth: `${services.listenerHttpUrl}/health`,
    fhirServerExt: services.fhirServerExtUrl,
    smartFhirEndpoint: services.fhirEndpointUrl,
    cdsHooksDiscovery: `${services.fhirServerExtUrl}/cds-services`,
    authServer: services.authIssuer,
    smartConfiguration: `${services.smartAppUrl}/fhir/.well-known/smart-configuration`,
    ehrSimulator: `${services.authIssuer}/ehr${ehrQuery}`,
    standaloneLaunch: `${services.smartAppUrl}/launch.html`,
    smartApp: services.smartAppUrl,
  };
}

/** Runs every cleanup step, last started first, even when one fails, and then reports the first failure. */
async function closeAll(closers: (() => Promise<void>)[]): Promise<void> {
  const errors: unknown[] = [];
  for (const close of [...closers].reverse()) {
    try {
      await close();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) {
    throw errors[0];
  }
}
