/** Wiring of the CDS Hooks endpoints into fhir-server-ext: database, JWT verifier and router. */
import {
  connectMongo,
  loadModelCatalog,
  type Logger,
  type MonitorMedConfig,
  type MongoHandle,
} from '@monitormed/common';
import type { ErrorRequestHandler, Router } from 'express';
import type { AuditQueue } from '../proxy/audit-queue.js';
import { createClientVerifier, type JtiStore } from './client-auth.js';
import { cdsErrorHandler, createCdsHooksRouter } from './router.js';
import { loadCdsHooksSettings, type CdsHooksSettings } from './settings.js';

/** The CDS Hooks part of a running fhir-server-ext. */
export interface CdsHooks {
  router: Router;
  /** Turns MongoDB failures in CDS routes into 503 responses. */
  errorHandler: ErrorRequestHandler;
  /** Connects to MongoDB; call before serving. */
  connect(): Promise<void>;
  /** Closes the MongoDB connection; safe to call more than once. */
  close(): Promise<void>;
}

/** Inputs of {@link createCdsHooks}. */
export interface CdsHooksOptions {
  config: MonitorMedConfig;
  /** Defaults to `loadCdsHooksSettings(config)`. */
  settings?: CdsHooksSettings;
  /** Redis for the jti replay check. */
  jtiStore: JtiStore;
  /** Returns the AuditEvent queue; the FHIR endpoint that owns it is created after the CDS Hooks. */
  audit: () => Pick<AuditQueue, 'add'>;
  /** Public base URL of the service when CDS_SERVICE_BASE_URL is unset; known once the server listens. */
  defaultBaseUrl: () => string;
  log: Logger;
}

/**
 * Creates the CDS Hooks endpoints. Nothing connects until {@link CdsHooks.connect}.
 * @param options - Configuration, Redis and logger.
 */
export function createCdsHooks(options: CdsHooksOptions): CdsHooks {
  const settings = options.settings ?? loadCdsHooksSettings(options.config);
  const log = options.log;
  let mongo: MongoHandle | undefined;
  let closed = false;

  const router = createCdsHooksRouter({
    settings,
    verifier: createClientVerifier(settings, options.jtiStore),
    db: () => {
      if (mongo === undefined) {
        throw new Error('The CDS Hooks database is not connected; call connect() first.');
      }
      return mongo.db;
    },
    serviceBaseUrl: () => settings.serviceBaseUrl ?? options.defaultBaseUrl(),
    fhirBaseUrl: options.config.fhirBaseUrl,
    sourceUrl: options.config.smartAppUrl,
    catalog: loadModelCatalog(),
    audit: options.audit,
    log,
  });

  return {
    router,
    errorHandler: cdsErrorHandler(log),
    async connect() {
      try {
        mongo = await connectMongo(options.config, 5_000);
      } catch (err) {
        throw new Error(
          `MongoDB at ${options.config.mongoUrl} is not reachable (${(err as Error).message}); start it or set MONGO_URL.`,
          { cause: err }
        );
      }
      if (settings.clients.length === 0) {
        log.warn('CDS_CLIENTS is empty, so every CDS Hooks service call is rejected with 401');
      }
    },
    async close() {
      if (closed) {
        return;
      }
      closed = true;
      await mongo?.client.close();
    },
  };
}
