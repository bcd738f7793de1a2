import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { createTestRun, dropTestDatabase } from '../testing/stack.js';
import type { ReferenceProfileDocument } from '../store/evaluation-documents.js';

const run = createTestRun();
const script = fileURLToPath(new URL('./reference-profile.ts', import.meta.url));
const csvPath = fileURLToPath(
  new URL('../../test-fixtures/reference/sepsis-validation.csv', import.meta.url)
);
const env = { ...process.env, MONGO_URL: run.config.mongoUrl, MONGO_DATABASE: run.config.mongoDatabase };

function runCommand(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { encoding: 'utf8', env });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

after(async () => {
  await dropTestDatabase(run.config);
});

void describe('reference-profile command', () => {
  void it('uploads a CSV profile', () => {
    const { status, stdout, stderr } = runCommand([
      'upload',
      '--model',
      'cli-model',
      '--version',
      '1',
      csvPath,
    ]);
    assert.equal(status, 0, stderr);
    const profile = JSON.parse(stdout) as ReferenceProfileDocument;
    assert.equal(profile.rows, 12);
    assert.deepEqual(profile.source, { kind: 'upload', fileName: 'sepsis-validation.csv' });
  });

  void it('rejects usage errors', () => {
    const missing = runCommand(['upload', '--model', 'cli-model', csvPath]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /Missing --model or --version/);

    const period = runCommand(['from-windows', '--model', 'cli-model', '--version', '1', '--first', '0']);
    assert.equal(period.status, 2);
    assert.match(period.stderr, /Invalid --first '0'/);

    const empty = runCommand(['from-windows', '--model', 'cli-model', '--version', '1', '--first', '3']);
    assert.equal(empty.status, 2);
    assert.match(empty.stderr, /has no rolled-up day window/);
  });
});
