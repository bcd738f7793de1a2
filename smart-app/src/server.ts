/**
 * The SMART app's Node server: it serves the Vite-built pages from `dist/` (`launch.html`, the SMART
 * launch URL, and `index.html`, the redirect URI), publishes the app's SMART registration at
 * `/smart-app-config.json`, and relays `/fhir/*` to fhir-server-ext's SMART-secured FHIR endpoint.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '@monitormed/common';
import express, { type NextFunction, type Request, type Response } from 'express';
import { DEFAULT_DIST_DIR, prepareClientAssets, type AssetBuildMode } from './assets.js';
import type { SmartAppClientConfig } from './client/launch-config.js';
import {
  EHR_LAUNCH_SCOPE,
  loadSmartAppConfig,
  MODELS_LAUNCH_SCOPE,
  STANDALONE_LAUNCH_SCOPE,
} from './config.js';
import { createFhirProxy } from './proxy.js';

/** Options of {@link startSmartApp}; each one left out comes from the environment (see `loadSmartAppConfig`). */
export interface SmartAppOptions {
  /** Host to bind; default the host of `SMART_APP_URL`. */
  host?: string;
  /** Port to bind, 0 for a free one; default the port of `SMART_APP_URL` (8082). */
  port?: number;
  /**
   * FHIR base URL that `/fhir` forwards to, or a function returning it; default `SMART_APP_FHIR_UPSTREAM`,
   * else fhir-server-ext's `/fhir`.
   */
  fhirUpstreamUrl?: string | (() => string);
  /** OAuth client id; default `SMART_APP_CLIENT_ID`, else `monitormed-smart-app`. */
  clientId?: string;
  /** Folder of the built page; default `smart-app/dist/`. */
  distDir?: string;
  /** When to run the Vite build before serving; default `if-missing`. */
  build?: AssetBuildMode;
  logger?: Logger;
}

/** A started SMART app server. */
export interface RunningSmartApp {
  /** Port the server listens on (the real one when 0 was requested). */
  port: number;
  /** Base URL of the page, such as `http://127.0.0.1:8082`. */
  url: string;
  /** Whether this start ran the Vite build or served earlier output. */
  assets: 'built' | 'existing';
  /** Stops accepting connections and closes open ones; safe to call more than once. */
  close(): Promise<void>;
}

/** Registration data that {@link createSmartAppHandler} publishes at `/smart-app-config.json`. */
export interface ClientRegistration {
  clientId: string;
  /** Default `iss` of a standalone launch; undefined means this server's own `/fhir`. */
  defaultIss: string | undefined;
  /** Further accepted `iss` values besides the default one. */
  extraAllowedIss: string[];
}

/**
 * Creates the express application: `/fhir` relay, the client configuration, `/healthz`, then the pages.
 * @param distDir - Folder of the built pages.
 * @param fhirUpstreamUrl - FHIR base URL that `/fhir` forwards to, or a function returning it.
 * @param registration - The app's SMART registration.
 * @param log - Service logger.
 * @returns The express application, not yet listening.
 */
export function createSmartAppHandler(
  distDir: string,
  fhirUpstreamUrl: string | (() => string),
  registration: ClientRegistration,
  log: Logger
): express.Express {
  const app = express();
  app.disable('x-powered-by');

  app.use('/fhir', ...createFhirProxy(fhirUpstreamUrl, log));

  app.get('/smart-app-config.json', (req, res) => {
    // Without a configured default, the relay on the origin the browser used is the FHIR server.
    const defaultIss = registration.defaultIss ?? `${req.protocol}://${req.get('host') ?? 'localhost'}/fhir`;
    const body: SmartAppClientConfig = {
      clientId: registration.clientId,
      ehrScope: EHR_LAUNCH_SCOPE,
      standaloneScope: STANDALONE_LAUNCH_SCOPE,
      modelsScope: MODELS_LAUNCH_SCOPE,
      defaultIss,
      allowedIss: [defaultIss, ...registration.extraAllowedIss],
    };
    res.set('Cache-Control', 'no-cache').json(body);
  });

  // CDS Hooks cards link to SMART_APP_URL/launch, so that path leads to the launch page with its query.
  app.get('/launch', (req, res) => {
    const queryStart = req.originalUrl.indexOf('?');
    res.redirect(302, `/launch.html${queryStart < 0 ? '' : req.originalUrl.slice(queryStart)}`);
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Vite puts a content hash in every asset name, so only index.html must be revalidated on each load.
  app.use(
    express.static(distDir, {
      index: 'index.html',
      setHeaders: (res, path) => {
        res.setHeader(
          'Cache-Control',
          path.endsWith('.html') ? 'no-cache' : 'public, max-age=31536000, immutable'
        );
      },
    })
  );

  app.use((_req, res) => {
    res
      .status(404)
      .type('text/plain')
      .send('Not found. Launch the app from the EHR, or open /launch.html for a standalone launch.\n');
  });

  app.use((error: Error, req: Request, res: Response, next: NextFunction) => {
    log.error({ err: error.message, method: req.method }, 'Request failed');
    if (res.headersSent) {
      next(error);
      return;
    }
    res
      .status(500)
      .type('text/plain')
      .send('Internal server error. The SMART app server log has the cause.\n');
  });

  return app;
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
 * Builds the page if needed and starts the server.
 * @param options - Overrides of the environment configuration.
 * @returns The running server.
 * @throws ConfigError for invalid environment values, MissingAssetsError when `build` is `never` and
 *   `dist/` is empty, or the listen error (such as EADDRINUSE).
 */
export async function startSmartApp(options: SmartAppOptions = {}): Promise<RunningSmartApp> {
  const config = loadSmartAppConfig();
  const log = options.logger ?? createLogger('smart-app');
  const host = options.host ?? config.host;
  const fhirUpstreamUrl = options.fhirUpstreamUrl ?? config.fhirUpstreamUrl;
  const distDir = options.distDir ?? DEFAULT_DIST_DIR;

  const startedAtMs = Date.now();
  const assets = await prepareClientAssets(distDir, options.build ?? 'if-missing');
  if (assets === 'built') {
    log.info({ durationMs: Date.now() - startedAtMs }, 'Built the SMART app page with Vite');
  }

  const registration: ClientRegistration = {
    clientId: options.clientId ?? config.clientId,
    defaultIss: config.defaultIss,
    extraAllowedIss: config.extraAllowedIss,
  };
  const server = createServer(createSmartAppHandler(distDir, fhirUpstreamUrl, registration, log));
  await listen(server, options.port ?? config.port, host);
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  log.info({ port }, 'SMART app listening');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      // server.close() waits for keep-alive connections, so they are closed right after it stops listening.
      server.close(() => {
        log.info({ port }, 'SMART app stopped');
        resolve();
      });
      server.closeAllConnections();
    });
    return closing;
  };

  return { port, url: `http://${urlHost}:${port}`, assets, close };
}
