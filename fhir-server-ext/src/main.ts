/** Starts fhir-server-ext with the environment's configuration; stops cleanly on SIGINT or SIGTERM. */
import { createLogger, loadConfig } from '@monitormed/common';
import { startFhirServerExt } from './server.js';

const config = loadConfig();
const log = createLogger('fhir-server-ext', config.logLevel);

try {
  const service = await startFhirServerExt({ config, logger: log });

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
