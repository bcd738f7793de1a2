import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@monitormed/common';
import type { ListenerMetrics } from '../metrics.js';
import type { HealthReport } from './health.js';

/** Options of {@link startOpsServer}. */
export interface OpsServerOptions {
  host: string;
  /** TCP port; 0 picks a free port. */
  port: number;
  metrics: ListenerMetrics;
  /** Runs the checks behind `GET /health`; it must not throw. */
  checkHealth: () => Promise<HealthReport>;
  logger: Logger;
}

/** A running operations server. */
export interface OpsServer {
  /** Bound port (the real one when started on port 0). */
  port: number;
  /** Stops the server and closes its connections. Safe to call twice. */
  close(): Promise<void>;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function route(
  request: IncomingMessage,
  response: ServerResponse,
  options: OpsServerOptions
): Promise<void> {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  if (path !== '/metrics' && path !== '/health') {
    sendJson(response, 404, {
      error: `Not found: ${path}. This server serves GET /metrics and GET /health.`,
    });
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('allow', 'GET, HEAD');
    sendJson(response, 405, { error: `Method ${request.method ?? ''} not allowed on ${path}; use GET.` });
    return;
  }

  if (path === '/metrics') {
    const body = await options.metrics.registry.metrics();
    response.writeHead(200, { 'content-type': options.metrics.registry.contentType }).end(body);
    return;
  }

  const report = await options.checkHealth();
  if (report.status !== 'ok') {
    options.logger.warn({ reason: report.reason }, 'Health check failed');
  }
  sendJson(response, report.status === 'ok' ? 200 : 503, report);
}

/**
 * Starts the HTTP server for operations: `GET /metrics` in the Prometheus text format and `GET /health`,
 * which returns 200 `{"status":"ok"}` or 503 `{"status":"unavailable","reason":...}`.
 * @param options - Address, metrics and health check.
 * @returns The running server.
 * @throws When the port cannot be bound.
 */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const server: Server = createServer((request, response) => {
    route(request, response, options).catch((err: unknown) => {
      options.logger.error({ err, url: request.url }, 'Operations request failed');
      if (!response.headersSent) {
        sendJson(response, 500, { error: 'Internal error. See the listener log.' });
      } else {
        response.destroy();
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
      // Scrapers keep connections alive; without this, close() would wait for them to time out.
      server.closeAllConnections();
    });

  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      closing ??= close();
      return closing;
    },
  };
}
