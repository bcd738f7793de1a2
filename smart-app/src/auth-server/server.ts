/**
 * Starts the SMART authorization server: oidc-provider for OAuth 2.0 and OpenID Connect, the login and
 * consent pages, and the EHR simulator, on one loopback HTTP server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '@monitormed/common';
import express, { type NextFunction, type Request, type Response } from 'express';
import { loadAuthServerConfig, type AuthServerConfig } from './config.js';
import { createEhrSimulatorRouter, SMART_STYLE_PATH } from './ehr-simulator.js';
import { ensureTestPractitioner } from './fhir-directory.js';
import { createInteractionRouter } from './interactions.js';
import { LaunchContextStore } from './launch-contexts.js';
import { createProvider, SESSION_TTL_S } from './provider.js';

/** Options of {@link startAuthServer}; each one left out comes from the environment. */
export interface AuthServerOptions {
  /** Overrides of `loadAuthServerConfig()`. */
  config?: Partial<AuthServerConfig>;
  /** Port to bind, 0 for a free one; the issuer then becomes `http://127.0.0.1:<port>`. */
  port?: number;
  /** Time limit of one request to the FHIR server, in milliseconds; default 10 000. */
  fhirTimeoutMs?: number;
  logger?: Logger;
}

/** A running authorization server. */
export interface RunningAuthServer {
  /** Issuer identifier, also the base URL of every endpoint. */
  issuer: string;
  port: number;
  /** `fhirUser` of the test user, such as `Practitioner/123`. */
  fhirUser: string;
  /** Creates an EHR launch for a patient, as `POST /ehr/launch` does, and returns the app's launch URL. */
  createLaunchUrl(patient: string, options?: { embedded?: boolean; encounter?: string }): string;
  /** Number of token responses per grant type since start, for tests of the refresh flow. */
  tokenGrants(): Record<string, number>;
  /** Stops the server and closes open connections; safe to call more than once. */
  close(): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Starts the server. It first makes sure the test user's Practitioner exists on the FHIR server.
 * @throws ConfigError for invalid settings, an Error naming the FHIR server when it is unreachable, or
 *   the listen error (such as EADDRINUSE).
 */
export async function startAuthServer(options: AuthServerOptions = {}): Promise<RunningAuthServer> {
  const config: AuthServerConfig = { ...loadAuthServerConfig(), ...options.config };
  const log = options.logger ?? createLogger('auth-server');
  const timeoutMs = options.fhirTimeoutMs ?? 10_000;

  const fhirUser = await ensureTestPractitioner(config.fhirBaseUrl, timeoutMs);

  // The issuer contains the port, which is known only after listening, so requests go to a handler set later.
  const routing: { handler?: (req: IncomingMessage, res: ServerResponse) => void } = {};
  const server = createServer((req, res) => {
    if (routing.handler === undefined) {
      res.statusCode = 503;
      res.end('The authorization server is starting; retry in a moment.\n');
      return;
    }
    routing.handler(req, res);
  });
  await listen(server, options.port ?? config.port, config.host);
  const port = (server.address() as AddressInfo).port;
  const issuer = options.port === undefined ? config.issuer : `http://127.0.0.1:${port}`;

  const contexts = new LaunchContextStore(SESSION_TTL_S * 1000);
  const provider = createProvider({ config, issuer, contexts, fhirUser: () => fhirUser });
  const tokenGrants: Record<string, number> = {};
  provider.on('grant.success', (ctx) => {
    const grantType = String(
      (ctx as { oidc: { params?: Record<string, unknown> } }).oidc.params?.['grant_type']
    );
    tokenGrants[grantType] = (tokenGrants[grantType] ?? 0) + 1;
  });
  for (const event of ['grant.error', 'authorization.error', 'server_error'] as const) {
    provider.on(event, (_ctx: unknown, error: Error & { error_description?: string }) => {
      log.warn(
        { event, err: error.message, description: error.error_description },
        'Authorization request rejected'
      );
    });
  }

  const smartStyleUrl = `${issuer}${SMART_STYLE_PATH}`;
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.use(
    '/interaction',
    createInteractionRouter({
      provider,
      contexts,
      fhirBaseUrl: config.fhirBaseUrl,
      testUserPassword: config.testUserPassword,
      fhirUser: () => fhirUser,
      smartStyleUrl,
      timeoutMs,
      log,
    })
  );
  const fhirIss = config.fhirAudiences[0];
  if (fhirIss === undefined) {
    throw new Error('AUTH_FHIR_AUDIENCES is empty; name the FHIR base URL the app reads.');
  }
  app.use(
    '/ehr',
    createEhrSimulatorRouter({
      contexts,
      launchUrl: config.launchUrl,
      fhirIss,
      fhirBaseUrl: config.fhirBaseUrl,
      smartStyleUrl,
      timeoutMs,
      log,
    })
  );
  app.use(provider.callback());
  app.use((error: Error, req: Request, res: Response, next: NextFunction) => {
    log.error({ err: error.message, method: req.method }, 'Request failed');
    if (res.headersSent) {
      next(error);
      return;
    }
    res
      .status(500)
      .type('text/plain')
      .send('Internal server error. The authorization server log has the cause.\n');
  });
  routing.handler = app;
  log.info({ port, issuer }, 'SMART authorization server listening');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => {
        log.info({ port }, 'SMART authorization server stopped');
        resolve();
      });
      server.closeAllConnections();
    });
    return closing;
  };

  return {
    issuer,
    port,
    fhirUser,
    createLaunchUrl: (patient, launchOptions = {}) => {
      const launch = contexts.createLaunch({
        patient,
        ...(launchOptions.encounter === undefined ? {} : { encounter: launchOptions.encounter }),
        needPatientBanner: launchOptions.embedded !== true,
        smartStyleUrl,
      });
      return `${config.launchUrl}?${new URLSearchParams({ iss: fhirIss, launch }).toString()}`;
    },
    tokenGrants: () => ({ ...tokenGrants }),
    close,
  };
}
