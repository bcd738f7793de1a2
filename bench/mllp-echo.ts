/**
 * Bare MLLP echo server for the throughput benchmark: it replies to every frame with one fixed ACK frame,
 * with no parsing and no storage, so its numbers are the upper bound of MLLP over loopback on this machine.
 * Usage: `npx tsx bench/mllp-echo.ts`; it prints `{"port":N}` once listening and stops on SIGTERM.
 */
import { createServer, type AddressInfo } from 'node:net';
import { MllpFrameDecoder, encodeFrame } from '@monitormed/hl7-listener';

const FIXED_ACK = encodeFrame('MSH|^~\\&|ECHO|BENCH|SENDER|BENCH|20260101000000||ACK|1|P|2.5.1\rMSA|AA|1\r');

const server = createServer((socket) => {
  const decoder = new MllpFrameDecoder();
  socket.on('data', (data: Buffer) => {
    for (const event of decoder.push(data)) {
      if (event.kind !== 'junk') {
        socket.write(FIXED_ACK);
      }
    }
  });
  socket.on('error', () => {
    socket.destroy();
  });
});
server.maxConnections = 1_000;

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});
