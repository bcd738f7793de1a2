import { createLogger } from '@monitormed/common';
import { loadListenerConfig, type ListenerConfig } from './config.js';
import { startOpsServer, type OpsServer } from './http/ops-server.js';
import { startListener, type ListenerHandle } from './index.js';

// Entry point: `npm start -w @monitormed/hl7-listener`. Starts the MLLP listener and the operations HTTP
// server (/metrics, /health), and shuts both down gracefully on SIGTERM or SIGINT.

const startupLogger = createLogger('hl7-listener');

let config: ListenerConfig;
let listener: ListenerHandle;
let opsServer: OpsServer;
try {
  config = loadListenerConfig();
  listener = await startListener({ config, logger: createLogger('hl7-listener', config.logLevel) });
} catch (err) {
  // ConfigError and TlsConfigError messages name the variable to fix.
  startupLogger.fatal({ err }, 'HL7 MLLP listener failed to start');
  process.exit(1);
}

const logger = createLogger('hl7-listener', config.logLevel);
try {
  opsServer = await startOpsServer({
    host: config.httpHost,
    port: config.httpPort,
    metrics: listener.metrics,
    checkHealth: () => listener.checkHealth(),
    logger,
  });
} catch (err) {
  logger.fatal(
    { err, httpPort: config.httpPort },
    'Operations HTTP server failed to start; set HL7_HTTP_PORT'
  );
  await listener.close();
  process.exit(1);
}

logger.info(
  {
    host: listener.host,
    port: listener.port,
    tls: config.tls !== undefined,
    requireClientCert: config.tls?.requireClientCert ?? false,
    maxConnections: config.maxConnections,
    httpPort: opsServer.port,
    fhirBaseUrl: config.fhirBaseUrl,
    createMissingPatients: config.createMissingPatients,
    acceptPriorityPerSecond: config.acceptPriorityPerSecond,
  },
  'HL7 MLLP listener started'
);

let stopping = false;

/**
 * Stops accepting connections, lets frames in flight (including one half received) finish within
 * HL7_CLOSE_GRACE_MS, then closes the operations server. A second signal exits at once.
 */
const stop = (signal: string): void => {
  if (stopping) {
    logger.warn({ signal }, 'Second stop signal: exiting without waiting for messages in flight');
    process.exit(1);
  }
  stopping = true;
  logger.info({ signal, closeGraceMs: config.closeGraceMs }, 'Stopping HL7 MLLP listener');

  listener
    .close()
    .then(() => opsServer.close())
    .then(
      () => {
        logger.info('HL7 MLLP listener stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'HL7 MLLP listener did not stop cleanly');
        process.exit(1);
      }
    );
};
process.on('SIGINT', () => {
  stop('SIGINT');
});
process.on('SIGTERM', () => {
  stop('SIGTERM');
});
