/** Starts the analyzer workers with the environment's configuration; stops cleanly on SIGINT or SIGTERM. */
import { createLogger, loadConfig } from '@monitormed/common';
import { startAnalyzers } from './analyzers.js';

const config = loadConfig();
const log = createLogger('analyzers', config.logLevel);

try {
  const analyzers = await startAnalyzers({ config, logger: log });

  const stop = (signal: string): void => {
    log.info({ signal }, 'Stopping analyzers; waiting for running jobs');
    analyzers.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'Analyzers did not stop cleanly');
        process.exit(1);
      }
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  log.fatal({ err }, 'Analyzers failed to start');
  process.exit(1);
}
