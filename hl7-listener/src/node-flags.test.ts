import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { LISTENER_NODE_FLAGS } from './node-flags.js';

void describe('LISTENER_NODE_FLAGS', () => {
  void it('match the npm start script', () => {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      scripts?: Record<string, string>;
    };
    const start = manifest.scripts?.['start'] ?? '';

    assert.match(start, /^node .*--import tsx src\/main\.ts$/);
    for (const flag of LISTENER_NODE_FLAGS) {
      assert.ok(start.split(' ').includes(flag), `npm start lacks ${flag}: ${start}`);
    }
  });
});
