/** Starts the SMART authorization server with the environment configuration: `npm run auth-server -w smart-app`. */
import { createLogger } from '@monitormed/common';
import { startAuthServer } from './server.js';

const log = createLogger('auth-server');

try {
  const server = await startAuthServer({ logger: log });
  const stop = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'Stopping the SMART authorization server');
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (error) {
  log.fatal({ err: (error as Error).message }, 'SMART authorization server failed to start');
  process.exitCode = 1;
}
