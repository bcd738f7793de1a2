import { createServer } from 'node:http';
import { createLogger } from '@monitormed/common';
import { loadListenerConfig } from './config.js';
import { startListener } from './index.js';

// Entry point: `npm start -w @monitormed/hl7-listener`. Set HL7_METRICS_PORT to serve Prometheus metrics.
const config = loadListenerConfig();
const logger = createLogger('hl7-listener', config.logLevel);
const listener = await startListener({ config, logger });
logger.info(
  {
    host: listener.host,
    port: listener.port,
    fhirBaseUrl: config.fhirBaseUrl,
    createMissingPatients: config.createMissingPatients,
  },
  'HL7 MLLP listener started'
);

const metricsPort = process.env['HL7_METRICS_PORT'];
const metricsServer =
  metricsPort === undefined || metricsPort === ''
    ? undefined
    : createServer((request, response) => {
        if (request.url !== '/metrics') {
          response.writeHead(404).end();
          return;
        }
        void listener.metrics.registry.metrics().then((body) => {
          response.writeHead(200, { 'content-type': listener.metrics.registry.contentType }).end(body);
        });
      }).listen(Number(metricsPort), config.mllpHost, () => {
        logger.info({ port: Number(metricsPort) }, 'Metrics endpoint started');
      });

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) {
    return;
  }
  stopping = true;
  logger.info({ signal }, 'Stopping HL7 MLLP listener');
  metricsServer?.close();
  listener.close().then(
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
