import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Path of the script that installs, starts and checks the native test peers. */
export const PEERS_SCRIPT = fileURLToPath(new URL('../../peers/peers.sh', import.meta.url));

/** Thrown when `peers/peers.sh` exits with an error. */
export class PeersError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PeersError';
  }
}

/**
 * Runs `peers/peers.sh <args>` with its output going to this process's stderr, so the demo's
 * standard output stays one summary.
 * @param args - Subcommand and arguments, for example `['start', 'all']`.
 * @throws PeersError when the script exits non-zero.
 */
export function runPeersScript(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [PEERS_SCRIPT, ...args], {
      stdio: ['ignore', process.stderr, process.stderr],
    });
    child.on('error', (err) => {
      reject(new PeersError(`Cannot run ${PEERS_SCRIPT}: ${err.message}`));
    });
    child.on('exit', (code) => {
      if (code === 0) {
        resolve();
        return;
      }
      reject(
        new PeersError(
          `peers/peers.sh ${args.join(' ')} exited with ${String(code)}; its log lines are above.`
        )
      );
    });
  });
}
