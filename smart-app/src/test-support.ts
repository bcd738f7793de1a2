/** Helpers shared by the smart-app tests. */
import { createServer } from 'node:net';

/**
 * Returns a loopback port that nothing listens on, by binding port 0 and closing it again. Another
 * process could take the port in between, which is unlikely within one test run.
 */
export async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => {
    probe.listen(0, '127.0.0.1', resolve);
  });
  const address = probe.address();
  await new Promise<void>((resolve) => {
    probe.close(() => {
      resolve();
    });
  });
  if (address === null || typeof address === 'string') {
    throw new Error('A TCP server on port 0 returned no port number.');
  }
  return address.port;
}
