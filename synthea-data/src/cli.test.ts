import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));

function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

void describe('cli', () => {
  void it('prints usage for --help', () => {
    const result = runCli(['--help']);
    assert.equal(result.status, 0);
    assert.match(result.stdout, /Commands:/);
  });

  void it('rejects an unknown command', () => {
    const result = runCli(['frobnicate']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Unknown command "frobnicate"/);
  });

  void it('rejects an unknown option', () => {
    const result = runCli(['scenario', '--dayz', '3']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Unknown option '--dayz'/);
  });

  void it('names a missing load folder', () => {
    const result = runCli(['load']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Missing <folder>/);
  });

  void it('rejects a non-numeric option', () => {
    const result = runCli(['scenario', '--days', 'ten']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Invalid --days "ten": expected a number/);
  });

  void it('requires the generate options', () => {
    const result = runCli(['generate', '--seed', '1', '--out', '/tmp/x']);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /Missing --population/);
  });
});
