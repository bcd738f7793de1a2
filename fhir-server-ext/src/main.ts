/** Starts fhir-server-ext with the environment's configuration; stops cleanly on SIGINT or SIGTERM. */
import { createLogger, loadConfig } from '@monitormed/common';
import { startFhirServerExt } from './server.js';

const config = loadConfig();
const log = createLogger('fhir-server-ext', config.logLevel);

try {
  // FHIR_SERVER_EXT_HOST overrides the default bind address 127.0.0.1, for example 0.0.0.0 in a container.
  const host = process.env['FHIR_SERVER_EXT_HOST'];
  // GROUND_TRUTH=off turns ground-truth linking off, for example where no confirming results arrive.
  const groundTruthOff = process.env['GROUND_TRUTH'] === 'off';
  const service = await startFhirServerExt({
    config,
    logger: log,
    ...(groundTruthOff ? {} : { groundTruth: {} }),
    ...(host === undefined || host === '' ? {} : { host }),
  });

  const stop = (signal: string): void => {
    log.info({ signal }, 'Stopping fhir-server-ext');
    service.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'fhir-server-ext did not stop cleanly');
        process.exit(1);
      }
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  log.fatal({ err }, 'fhir-server-ext failed to start');
  process.exit(1);
}
