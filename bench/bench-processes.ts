/** Child processes of the MLLP benchmark: the echo server and MonitorMed listeners, each on free ports. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { LISTENER_NODE_FLAGS } from '../hl7-listener/src/node-flags.js';

/** Repository root, the working directory of every child process. */
export const REPO_ROOT = new URL('../', import.meta.url).pathname;

/** A running child process with the last lines it wrote, for error messages. */
export interface BenchProcess {
  child: ChildProcess;
  port: number;
  /** Last 4 KiB of standard output and standard error. */
  tail(): string;
  /** Sends SIGTERM and waits up to `timeoutMs` for the exit, then kills it. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Returns a port that was free a moment ago on the loopback interface. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  return port;
}

function spawnTsx(
  script: string,
  env: Record<string, string>,
  nodeArgs: string[] = []
): { child: ChildProcess; tail: () => string } {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const collect = (chunk: Buffer): void => {
    tail = (tail + chunk.toString()).slice(-4096);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  return { child, tail: () => tail };
}

function stopper(child: ChildProcess): (timeoutMs?: number) => Promise<void> {
  return async (timeoutMs = 15_000) => {
    if (child.exitCode !== null) {
      return;
    }
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, delay(timeoutMs)]);
    child.kill('SIGKILL');
  };
}

/**
 * Starts `bench/mllp-echo.ts` and waits for the port it prints.
 * @throws When it prints no port within 30 s.
 */
export async function startEchoServer(): Promise<BenchProcess> {
  const { child, tail } = spawnTsx('bench/mllp-echo.ts', {});
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const match = /\{"port":(\d+)\}/.exec(tail());
    if (match?.[1] !== undefined) {
      return { child, port: Number(match[1]), tail, stop: stopper(child) };
    }
    await delay(50);
  }
  child.kill('SIGKILL');
  throw new Error(`The echo server printed no port within 30 s:\n${tail()}`);
}

/** A listener child process and the port of its operations server. */
export interface ListenerProcess extends BenchProcess {
  httpPort: number;
}

/**
 * Starts `hl7-listener/src/main.ts` with `env` on free ports and waits until `GET /health` returns 200.
 * @param nodeArgs - Options of `node` itself, such as `--cpu-prof`, which NODE_OPTIONS does not allow.
 * @throws When it is not healthy within 60 s.
 */
export async function startListenerProcess(
  env: Record<string, string>,
  nodeArgs: string[] = []
): Promise<ListenerProcess> {
  const port = await freePort();
  const httpPort = await freePort();
  const { child, tail } = spawnTsx(
    'hl7-listener/src/main.ts',
    {
      MLLP_PORT: String(port),
      HL7_HTTP_PORT: String(httpPort),
      ...env,
    },
    [...LISTENER_NODE_FLAGS, ...nodeArgs]
  );
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && child.exitCode === null) {
    const status = await fetch(`http://127.0.0.1:${httpPort}/health`).then(
      (response) => response.status,
      () => 0
    );
    if (status === 200) {
      return { child, port, httpPort, tail, stop: stopper(child) };
    }
    await delay(200);
  }
  child.kill('SIGKILL');
  throw new Error(`The listener did not become healthy within 60 s:\n${tail()}`);
}
