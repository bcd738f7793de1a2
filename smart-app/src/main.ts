/** Starts the SMART app server with the environment configuration: `npm start -w smart-app`. */
import { createLogger } from '@monitormed/common';
import { startSmartApp } from './server.js';

const log = createLogger('smart-app');

try {
  const app = await startSmartApp({ logger: log });
  const stop = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'Stopping the SMART app');
    void app.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (error) {
  log.fatal({ err: (error as Error).message }, 'SMART app failed to start');
  process.exitCode = 1;
}
