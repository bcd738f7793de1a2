/**
 * The fhir-server-ext HTTP service: the rest-hook endpoint, health and Prometheus metrics, and the
 * Subscription on the FHIR server that feeds the endpoint.
 */
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import {
  ANALYZE_QUEUE,
  createFhirClient,
  createLogger,
  loadConfig,
  portOf,
  type AnalyzeResultJob,
  type Logger,
  type MonitorMedConfig,
} from '@monitormed/common';
import Bull from 'bull';
import express, { type NextFunction, type Request, type Response } from 'express';
import { createCdsHooks, type CdsHooks } from './cds-hooks/service.js';
import { createGroundTruth, type GroundTruth, type GroundTruthOptions } from './ground-truth/service.js';
import type { CdsHooksSettings } from './cds-hooks/settings.js';
import { createHookRouter, HOOK_PATH, sendOutcome } from './hook-router.js';
import { createHookMetrics } from './metrics.js';
import { loadSmartConfig, type SmartConfig } from './auth/smart-config.js';
import { createTokenVerifier } from './auth/token-verifier.js';
import { createOperationsRouter, type Operations } from './operations/router.js';
import { createFhirEndpoint, type FhirEndpoint } from './proxy/endpoint.js';
import { FHIR_PATH } from './proxy/fhir-router.js';
import { badRequest, notFound, serverError } from './outcomes.js';
import { AI_OBSERVATION_CRITERIA, deleteOwnedSubscriptions, ensureSubscription } from './subscription.js';
import { withTimeout } from './timeout-error.js';

/** Options of {@link startFhirServerExt}; every field has a default from the configuration. */
export interface FhirServerExtOptions {
  /** Configuration; defaults to `loadConfig()`. */
  config?: MonitorMedConfig;
  /** Port to listen on; defaults to the port of `config.fhirServerExtUrl` (8081). Use 0 for a free port. */
  port?: number;
  /** Address to listen on; defaults to 127.0.0.1. */
  host?: string;
  /**
   * URL the FHIR server calls. Defaults to `config.fhirServerExtUrl` + `/subscription-hook` when listening on
   * the configured port, otherwise to `http://127.0.0.1:<actual port>/subscription-hook`.
   */
  subscriptionEndpoint?: string;
  /** Subscription criteria; defaults to every AIAST-labelled Observation. Tests narrow it to their data. */
  subscriptionCriteria?: string;
  /** Owner tag code that identifies this instance's Subscription; defaults to `fhir-server-ext`. */
  subscriptionOwner?: string;
  /** Skip creating the Subscription, for example to test the hook alone. Defaults to false. */
  skipSubscription?: boolean;
  /** Delete the owner's Subscription on close, as tests should. Defaults to false. */
  removeSubscriptionOnClose?: boolean;
  /** How long to wait for HAPI to activate the Subscription; defaults to 30 000 ms. */
  subscriptionTimeoutMs?: number;
  /** Bull key prefix in Redis; defaults to `bull`. Tests use a unique prefix per run. */
  queuePrefix?: string;
  /** Time limit of one Redis call; defaults to 5 000 ms. */
  queueTimeoutMs?: number;
  /** CDS Hooks settings. Defaults to `loadCdsHooksSettings(config)`, which reads the CDS_* variables. */
  cdsHooksSettings?: CdsHooksSettings;
  /** SMART settings of the FHIR endpoint; defaults to `loadSmartConfig()`, which reads the SMART_* variables. */
  smart?: SmartConfig;
  /** Run the AuditEvent worker in this process; defaults to true. */
  auditWorker?: boolean;
  /** Time limit of one FHIR endpoint request to HAPI, the issuer or its JWKS; defaults to 30 000 ms. */
  fhirRequestTimeoutMs?: number;
  /**
   * Ground-truth linking: its Subscriptions, hook and worker. Off when absent, so that tests of other
   * features create no extra Subscriptions; main.ts turns it on.
   */
  groundTruth?: Omit<GroundTruthOptions, 'config' | 'log'>;
  logger?: Logger;
}

/** A running fhir-server-ext. */
export interface FhirServerExt {
  /** The port it listens on. */
  port: number;
  /** Endpoint registered in the Subscription. */
  subscriptionEndpoint: string;
  /** Id of the Subscription on the FHIR server, unless `skipSubscription` was set. */
  subscriptionId: string | undefined;
  /** Public base URL of the SMART-secured FHIR endpoint, such as `http://127.0.0.1:8081/fhir`. */
  fhirEndpointUrl: string;
  /** Stops the HTTP server and closes the queue; safe to call more than once. */
  close(): Promise<void>;
}

const DEFAULT_OWNER = 'fhir-server-ext';

/**
 * Starts fhir-server-ext: listens, connects the analyze queue, then makes sure the Subscription is active.
 * @param options - Overrides of the configured defaults.
 * @returns The running service.
 * @throws SubscriptionSetupError when the Subscription cannot be activated; TimeoutError when Redis is down.
 */
export async function startFhirServerExt(options: FhirServerExtOptions = {}): Promise<FhirServerExt> {
  const config = options.config ?? loadConfig();
  const log = options.logger ?? createLogger('fhir-server-ext', config.logLevel);
  const queueTimeoutMs = options.queueTimeoutMs ?? 5_000;
  const owner = options.subscriptionOwner ?? DEFAULT_OWNER;
  const fhirClient = createFhirClient(config);

  // The CDS Hooks JWT audience contains the server's URL, which is only known once it listens.
  // Created before the queue, so that invalid CDS_* settings fail before any connection is open.
  let serverBaseUrl = config.fhirServerExtUrl;
  const cdsHooks = createCdsHooks({
    config,
    log,
    jtiStore: { set: (...args) => queue.client.set(...args) },
    audit: () => fhirEndpoint.audit,
    defaultBaseUrl: () => serverBaseUrl,
    ...(options.cdsHooksSettings === undefined ? {} : { settings: options.cdsHooksSettings }),
  });

  // createGroundTruth reads the rules file, so an invalid file fails before the queue connects.
  const groundTruth =
    options.groundTruth === undefined
      ? undefined
      : createGroundTruth({ ...options.groundTruth, config, log });

  const queue = new Bull<AnalyzeResultJob>(ANALYZE_QUEUE, config.redisUrl, {
    prefix: options.queuePrefix ?? 'bull',
  });
  const metrics = createHookMetrics();

  const smart = options.smart ?? loadSmartConfig();
  const fhirEndpoint = createFhirEndpoint({
    config,
    serverBaseUrl: () => serverBaseUrl,
    queuePrefix: options.queuePrefix ?? 'bull',
    queueTimeoutMs,
    log,
    smart,
    metricsRegistry: metrics.registry,
    ...(options.auditWorker === undefined ? {} : { auditWorker: options.auditWorker }),
    ...(options.fhirRequestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.fhirRequestTimeoutMs }),
  });
  // MonitorMed's own operations sit in front of the proxy on the same path and verify tokens the same way.
  const operations = createOperationsRouter({
    config,
    verifier: createTokenVerifier({
      smart,
      audience: () => smart.audience ?? fhirEndpoint.publicBaseUrl(),
      timeoutMs: 30_000,
      log,
    }),
    audit: fhirEndpoint.audit,
    allowedOrigins:
      smart.allowedOrigins.length > 0 ? smart.allowedOrigins : [new URL(config.smartAppUrl).origin],
    log,
  });
  const app = createApp({
    queue,
    metrics,
    log,
    secret: config.subscriptionSecret,
    queueTimeoutMs,
    cdsHooks,
    fhirEndpoint,
    operations,
    groundTruth,
  });
  const server = createServer(app);

  let closing: Promise<void> | undefined;
  let subscriptionCreated = false;
  const close = (): Promise<void> => {
    closing ??= closeAll(server, queue, cdsHooks, fhirEndpoint, operations, log, async () => {
      try {
        if (options.removeSubscriptionOnClose === true && subscriptionCreated) {
          const count = await deleteOwnedSubscriptions(fhirClient, owner);
          log.info({ count }, 'Deleted the Subscription of this instance');
        }
      } finally {
        // Also removes the ground-truth Subscriptions when asked, so it runs before the server closes.
        await groundTruth?.close();
      }
    });
    return closing;
  };

  try {
    // isReady() alone resolves before Redis responds, so a PING checks the connection.
    await withTimeout(
      queue.isReady().then(() => queue.client.ping()),
      queueTimeoutMs,
      `Redis at ${config.redisUrl} did not respond within ${queueTimeoutMs} ms; start it or set REDIS_URL.`
    );

    await cdsHooks.connect();

    const configuredPort = portOf(config.fhirServerExtUrl);
    const port = await listen(server, options.port ?? configuredPort, options.host ?? '127.0.0.1');
    if (port !== configuredPort) {
      serverBaseUrl = `http://127.0.0.1:${port}`;
    }
    const subscriptionEndpoint =
      options.subscriptionEndpoint ??
      (port === configuredPort
        ? `${config.fhirServerExtUrl}${HOOK_PATH}`
        : `http://127.0.0.1:${port}${HOOK_PATH}`);
    log.info({ port }, 'fhir-server-ext listening');

    await groundTruth?.start(port === configuredPort ? config.fhirServerExtUrl : `http://127.0.0.1:${port}`);

    let subscriptionId: string | undefined;
    if (options.skipSubscription !== true) {
      subscriptionCreated = true;
      const subscription = await ensureSubscription(
        fhirClient,
        {
          owner,
          criteria: options.subscriptionCriteria ?? AI_OBSERVATION_CRITERIA,
          endpoint: subscriptionEndpoint,
          secret: config.subscriptionSecret,
        },
        { timeoutMs: options.subscriptionTimeoutMs ?? 30_000, pollIntervalMs: 250 },
        log
      );
      subscriptionId = subscription.id;
    }

    return {
      port,
      subscriptionEndpoint,
      subscriptionId,
      fhirEndpointUrl: fhirEndpoint.publicBaseUrl(),
      close,
    };
  } catch (err) {
    await close().catch((closeError: unknown) => {
      log.error({ err: closeError }, 'Cleanup after a failed start failed');
    });
    throw err;
  }
}

interface AppDependencies {
  queue: Bull.Queue<AnalyzeResultJob>;
  metrics: ReturnType<typeof createHookMetrics>;
  log: Logger;
  secret: string;
  queueTimeoutMs: number;
  cdsHooks: CdsHooks;
  fhirEndpoint: FhirEndpoint;
  operations: Operations;
  groundTruth: GroundTruth | undefined;
}

function createApp(deps: AppDependencies): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ type: ['application/json', 'application/fhir+json'], limit: '5mb' }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  app.use(
    createHookRouter({
      queue: deps.queue,
      secret: deps.secret,
      metrics: deps.metrics,
      log: deps.log,
      queueTimeoutMs: deps.queueTimeoutMs,
      // Retries cover a FHIR server or Mongo that is briefly down. Completed jobs stay a day, so a
      // redelivery of the same version within a day is recognised and not queued again.
      jobOptions: {
        attempts: 5,
        backoff: { type: 'exponential', delay: 2_000 },
        removeOnComplete: { age: 24 * 3600 },
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    })
  );

  if (deps.groundTruth !== undefined) {
    app.use(deps.groundTruth.router);
  }
  app.use(deps.cdsHooks.router);
  app.use(FHIR_PATH, deps.operations.router);
  app.use(FHIR_PATH, deps.fhirEndpoint.router);

  app.use((req: Request, res: Response) => {
    sendOutcome(res, notFound(`No route for ${req.method} ${req.path}.`));
  });

  app.use(deps.cdsHooks.errorHandler);

  // express 5 forwards body-parser errors and rejected async handlers here. It recognises an error
  // handler by its four parameters, so `next` stays although it is unused.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const parseFailed = (err as { type?: string } | undefined)?.type === 'entity.parse.failed';
    if (parseFailed) {
      deps.metrics.rejectedDeliveries.inc({ reason: 'invalid' });
      sendOutcome(res, badRequest('The body is not valid JSON.'));
      return;
    }
    const tooLarge = (err as { type?: string } | undefined)?.type === 'entity.too.large';
    if (tooLarge) {
      deps.metrics.rejectedDeliveries.inc({ reason: 'invalid' });
      sendOutcome(res, { ...badRequest('The body is larger than 5 MB.'), status: 413 });
      return;
    }
    deps.log.error({ err }, 'Request failed');
    sendOutcome(res, serverError('The request failed; see the fhir-server-ext log.'));
  });

  return app;
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

async function closeAll(
  server: Server,
  queue: Bull.Queue<AnalyzeResultJob>,
  cdsHooks: CdsHooks,
  fhirEndpoint: FhirEndpoint,
  operations: Operations,
  log: Logger,
  removeSubscription: () => Promise<void>
): Promise<void> {
  const failures: unknown[] = [];

  // Remove the Subscription first, so the FHIR server stops delivering to an endpoint that is going away.
  try {
    await removeSubscription();
  } catch (err) {
    failures.push(err);
  }

  if (server.listening) {
    const stopped = new Promise<void>((resolve, reject) => {
      server.close((err) => {
        if (err) {
          reject(err);
        } else {
          resolve();
        }
      });
    });
    // Keep-alive connections from the FHIR server would otherwise hold close() open.
    server.closeIdleConnections();
    try {
      await stopped;
    } catch (err) {
      failures.push(err);
    }
  }

  try {
    await queue.close();
  } catch (err) {
    failures.push(err);
  }

  try {
    await cdsHooks.close();
  } catch (err) {
    failures.push(err);
  }

  try {
    await fhirEndpoint.close();
  } catch (err) {
    failures.push(err);
  }

  try {
    await operations.close();
  } catch (err) {
    failures.push(err);
  }

  for (const failure of failures) {
    log.error({ err: failure }, 'fhir-server-ext cleanup step failed');
  }
  if (failures.length > 0) {
    throw new AggregateError(
      failures,
      `fhir-server-ext stopped with ${failures.length} failed cleanup step(s).`
    );
  }
  log.info('fhir-server-ext stopped');
}
