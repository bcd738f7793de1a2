import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from './logger.js';

/** Creates a destination that keeps every log line, parsed. */
function memoryDestination(): { lines: Record<string, unknown>[]; stream: Writable } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

class PeerDownError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PeerDownError';
  }
}

void describe('createLogger', () => {
  void it('keeps the error type unredacted', () => {
    const { lines, stream } = memoryDestination();
    const logger = createLogger('test', 'info', stream);

    logger.error({ err: new PeerDownError('HAPI is not reachable') }, 'Startup failed');

    const [line] = lines;
    assert.ok(line, 'nothing was logged');
    const err = line['err'] as Record<string, unknown>;
    assert.equal(err['type'], 'PeerDownError');
    assert.equal(err['message'], 'HAPI is not reachable');
    assert.equal(err['name'], undefined);
    assert.equal(JSON.stringify(line).includes('[redacted]'), false);
  });

  void it('keeps a name that differs from the type', () => {
    const { lines, stream } = memoryDestination();
    const logger = createLogger('test', 'info', stream);
    const aborted = new Error('The operation was aborted');
    aborted.name = 'AbortError';

    logger.warn({ err: aborted }, 'Request aborted');

    const [line] = lines;
    assert.ok(line, 'nothing was logged');
    const err = line['err'] as Record<string, unknown>;
    assert.equal(err['type'], 'Error');
    assert.equal(err['errorName'], 'AbortError');
  });

  void it('still redacts patient names', () => {
    const { lines, stream } = memoryDestination();
    const logger = createLogger('test', 'info', stream);

    logger.info({ name: 'Synthetic Patient', patient: { name: 'Synthetic Patient' } }, 'Patient');

    const [line] = lines;
    assert.ok(line, 'nothing was logged');
    assert.equal(line['name'], '[redacted]');
    assert.deepEqual(line['patient'], { name: '[redacted]' });
  });
});
