/**
 * The `/fhir` relay: the browser reads FHIR from the app's own origin and this server forwards the
 * requests, with their `Authorization: Bearer` header, to the SMART-secured FHIR endpoint of
 * fhir-server-ext, which verifies the token and its scopes. The relay exists because that endpoint
 * sends no CORS headers; it adds no access of its own. It forwards reads and two operations that
 * write: `Flag/{id}/$respond` and `Device/{id}/$compliance-report`.
 */
import { ServerResponse } from 'node:http';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { Logger } from '@monitormed/common';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { createProxyMiddleware, responseInterceptor } from 'http-proxy-middleware';
import { rebaseBundleLinks } from './bundle-links.js';
import { errorOutcome } from './operation-outcome.js';

/** How long the proxy waits for the FHIR server's response before responding with 502. */
export const FHIR_PROXY_TIMEOUT_MS = 30_000;

/** Methods the relay forwards for any path. */
const READ_METHODS = new Set(['GET', 'HEAD']);

/**
 * The operations the app POSTs, because they change state: a clinician's response to a monitoring Flag
 * (fhir-server-ext checks the token's patient and `Flag.u` scope) and the compliance report, which is
 * stored as a DiagnosticReport (it checks `DiagnosticReport.cu`).
 */
const POST_PATHS = [
  /^\/Flag\/[A-Za-z0-9\-.]{1,64}\/\$respond$/,
  /^\/Device\/[A-Za-z0-9\-.]{1,64}\/\$compliance-report$/,
];

function sendOutcome(res: ServerResponse, status: number, outcome: OperationOutcome): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/fhir+json');
  res.end(JSON.stringify(outcome));
}

function rejectWrites(req: Request, res: Response, next: NextFunction): void {
  const isPostPath = POST_PATHS.some((pattern) => pattern.test(req.path));
  if (READ_METHODS.has(req.method) || (isPostPath && req.method === 'POST')) {
    next();
    return;
  }

  res.setHeader('Allow', isPostPath ? 'GET, HEAD, POST' : 'GET, HEAD');
  const text = `Method ${req.method} is not allowed: the app's FHIR proxy forwards only GET and HEAD, and POST only to Flag/{id}/$respond and Device/{id}/$compliance-report.`;
  sendOutcome(res, 405, errorOutcome('not-supported', text));
}

/** Paths below `/fhir` that a SMART client reads before it has a token. */
const PUBLIC_PATHS = new Set(['/metadata', '/.well-known/smart-configuration']);

/**
 * Rejects requests without a bearer token before they leave this server, so the relay never serves
 * anonymous reads even when its upstream is a FHIR server without authorization. Only a SMART-secured
 * upstream such as fhir-server-ext checks the token's signature and scopes.
 */
function requireBearerToken(req: Request, res: Response, next: NextFunction): void {
  if (PUBLIC_PATHS.has(req.path) || /^Bearer\s+\S+/i.test(req.get('authorization') ?? '')) {
    next();
    return;
  }

  res.setHeader('WWW-Authenticate', 'Bearer realm="fhir"');
  const text =
    'Missing bearer token: launch the app from the EHR, or open /launch.html, to get an access token.';
  sendOutcome(res, 401, errorOutcome('login', text));
}

/**
 * Creates the handlers to mount at `/fhir`: a method guard, a bearer token check, then the proxy.
 * @param upstreamUrl - FHIR base URL the requests go to, such as `http://127.0.0.1:8081/fhir`, or a
 *   function that returns it when the upstream starts after the app.
 * @param log - Logger for proxy failures (method and error code only; URLs can carry patient ids).
 * @returns Express handlers, in order.
 */
export function createFhirProxy(upstreamUrl: string | (() => string), log: Logger): RequestHandler[] {
  const resolveTarget = typeof upstreamUrl === 'string' ? () => upstreamUrl : upstreamUrl;
  // responseInterceptor types the upstream response like the request, so it takes plain IncomingMessages.
  const rebaseLinks = responseInterceptor((buffer, proxyRes, req) => {
    if (!/json/.test(proxyRes.headers['content-type'] ?? '')) {
      return Promise.resolve(buffer);
    }
    const request = req as Request;
    const publicBase = `${request.protocol}://${request.get('host') ?? 'localhost'}${request.baseUrl}`;
    const upstreamBase = resolveTarget().replace(/\/+$/, '');
    return Promise.resolve(rebaseBundleLinks(buffer.toString('utf8'), upstreamBase, publicBase));
  });
  const proxy = createProxyMiddleware<Request, Response>({
    router: () => resolveTarget(),
    changeOrigin: true,
    xfwd: true,
    proxyTimeout: FHIR_PROXY_TIMEOUT_MS,
    // The body is buffered so that search Bundles can point their paging links at this relay.
    selfHandleResponse: true,
    on: {
      proxyRes: (proxyRes, req, res) => {
        void rebaseLinks(proxyRes, req, res);
      },
      error: (error, req, res) => {
        const code = (error as NodeJS.ErrnoException).code;
        log.warn({ method: req.method, code }, 'FHIR proxy request failed');

        // For HTTP requests `res` is the response; a raw socket only appears for WebSocket upgrades.
        if (!(res instanceof ServerResponse)) {
          res.destroy();
          return;
        }
        if (res.headersSent) {
          res.end();
          return;
        }
        const text = `The FHIR server could not be reached (${code ?? error.message}). Check that it is running.`;
        sendOutcome(res, 502, errorOutcome('transient', text));
      },
    },
  });
  return [rejectWrites, requireBearerToken, proxy];
}
