/**
 * Assembles the secured FHIR endpoint for the fhir-server-ext HTTP server: token verifier, audit queue
 * with its worker, and the router mounted at {@link FHIR_PATH}.
 */
import type { Logger, MonitorMedConfig } from '@monitormed/common';
import type { Router } from 'express';
import type { Registry } from 'prom-client';
import { loadSmartConfig, type SmartConfig } from '../auth/smart-config.js';
import { createTokenVerifier } from '../auth/token-verifier.js';
import { createAuditDeadLetters } from './audit-dead-letters.js';
import { createAuditQueue, type AuditQueue } from './audit-queue.js';
import { DEFAULT_OPERATION_DEFINITIONS_DIR } from './capability.js';
import { createFhirRouter, FHIR_PATH } from './fhir-router.js';

/** Options of {@link createFhirEndpoint}. */
export interface FhirEndpointOptions {
  config: MonitorMedConfig;
  /** SMART settings; defaults to `loadSmartConfig()`, which reads the SMART_* variables. */
  smart?: SmartConfig;
  /** Public base URL of the server, without `/fhir`; a function because the port is known only after `listen`. */
  serverBaseUrl: () => string;
  /** Bull key prefix in Redis. */
  queuePrefix: string;
  /** Time limit of one Redis call. */
  queueTimeoutMs: number;
  /** Time limit of one request to the FHIR server, the issuer or its JWKS; defaults to 30 000 ms. */
  requestTimeoutMs?: number;
  /** Run the AuditEvent worker in this process; defaults to true. */
  auditWorker?: boolean;
  /** Attempts per AuditEvent job and the first backoff delay in ms; defaults to 12 attempts from 1 000 ms. */
  auditRetry?: { attempts: number; backoffMs: number };
  /** Registry that gets the audit dead-letter metrics. */
  metricsRegistry?: Registry;
  /** Folder of the OperationDefinitions to publish; defaults to the profiles package's SUSHI output. */
  operationDefinitionsDir?: string;
  log: Logger;
}

/** The FHIR endpoint of one server. */
export interface FhirEndpoint {
  /** Mount with `app.use(FHIR_PATH, router)`. */
  router: Router;
  audit: AuditQueue;
  /** Returns the public base URL of the FHIR endpoint, which is also the expected token audience by default. */
  publicBaseUrl(): string;
  /** Stops the audit worker and closes its Redis and MongoDB connections; safe to call twice. */
  close(): Promise<void>;
}

/** Creates the FHIR endpoint; nothing connects until the first request or job. */
export function createFhirEndpoint(options: FhirEndpointOptions): FhirEndpoint {
  const smart = options.smart ?? loadSmartConfig();
  const timeoutMs = options.requestTimeoutMs ?? 30_000;
  const publicBaseUrl = (): string => `${options.serverBaseUrl()}${FHIR_PATH}`;

  const deadLetters = createAuditDeadLetters(options.config);
  const audit = createAuditQueue({
    redisUrl: options.config.redisUrl,
    prefix: options.queuePrefix,
    fhirBaseUrl: options.config.fhirBaseUrl,
    queueTimeoutMs: options.queueTimeoutMs,
    writeTimeoutMs: timeoutMs,
    worker: options.auditWorker ?? true,
    deadLetters,
    ...(options.auditRetry === undefined ? {} : { retry: options.auditRetry }),
    ...(options.metricsRegistry === undefined ? {} : { metricsRegistry: options.metricsRegistry }),
    log: options.log,
  });
  const verifier = createTokenVerifier({
    smart,
    audience: () => smart.audience ?? publicBaseUrl(),
    timeoutMs,
    log: options.log,
  });

  const router = createFhirRouter({
    target: () => ({ fhirBaseUrl: options.config.fhirBaseUrl, publicBaseUrl: publicBaseUrl(), timeoutMs }),
    verifier,
    smart,
    audit,
    operationDefinitionsDir: options.operationDefinitionsDir ?? DEFAULT_OPERATION_DEFINITIONS_DIR,
    allowedOrigins:
      smart.allowedOrigins.length > 0 ? smart.allowedOrigins : [new URL(options.config.smartAppUrl).origin],
    log: options.log,
  });

  return {
    router,
    audit,
    publicBaseUrl,
    async close() {
      try {
        await audit.close();
      } finally {
        await deadLetters.close();
      }
    },
  };
}
