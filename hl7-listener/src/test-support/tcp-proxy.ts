import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** A loopback TCP proxy that a test can stop, to make a peer unreachable without touching the peer. */
export interface TcpProxy {
  port: number;
  /** Closes the listening socket and resets every proxied connection. */
  stop(): Promise<void>;
  /** Listens again on the same port; does nothing while it is listening. */
  restart(): Promise<void>;
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Starts a proxy from a free loopback port to `targetHost:targetPort`.
 * @returns The proxy; call `stop()` when done.
 */
export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const makeServer = (): Server =>
    createServer((client) => {
      const upstream = connect({ host: targetHost, port: targetPort });
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });

  let server = makeServer();
  await listen(server, 0);
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    stop: async () => {
      const closed = new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
      for (const socket of sockets) {
        socket.resetAndDestroy();
      }
      await closed;
    },
    restart: async () => {
      if (server.listening) {
        return;
      }
      server = makeServer();
      await listen(server, port);
    },
  };
}
