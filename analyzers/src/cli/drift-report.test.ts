import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { type DatasetDriftResult } from '../stats/select-test.js';

const script = fileURLToPath(new URL('./drift-report.ts', import.meta.url));
const fixtures = fileURLToPath(new URL('../../test-fixtures/drift/', import.meta.url));

/** Runs the command with tsx and returns its status and output. */
function runCommand(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function fixture(name: string): string {
  return `${fixtures}${name}`;
}

const baseArgs = ['--reference', fixture('reference.csv'), '--current', fixture('current.csv')];

void describe('drift-report command', () => {
  void it('prints help with exit 0', () => {
    const { status, stdout } = runCommand(['--help']);
    assert.equal(status, 0);
    assert.match(stdout, /^Usage: drift-report --reference REF\.csv --current CUR\.csv/);
    assert.match(stdout, /--correction NAME/);
  });

  void it('prints per-column results and verdict', () => {
    const { status, stdout, stderr } = runCommand([
      ...baseArgs,
      '--test',
      'age=psi',
      '--threshold',
      'age=0.2',
    ]);
    assert.equal(status, 0, stderr);
    const report = JSON.parse(stdout) as DatasetDriftResult;

    const byName = new Map(report.columns.map((column) => [column.name, column]));
    assert.equal(byName.get('score')?.test, 'ks');
    assert.equal(byName.get('score')?.drifted, true);
    assert.equal(byName.get('ward')?.type, 'categorical');
    assert.equal(byName.get('ward')?.test, 'chisquare');
    assert.deepEqual(byName.get('ward')?.unseenCategories, ['D']);
    assert.equal(byName.get('flag')?.test, 'z');
    assert.equal(byName.get('flag')?.pValue, 1);
    assert.equal(byName.get('age')?.test, 'psi');
    assert.equal(byName.get('age')?.threshold, 0.2);
    assert.equal(byName.get('age')?.missingReference, 4);
    assert.equal(byName.get('age')?.nReference, 36);

    assert.equal(report.dataset.driftedFeatures, 2);
    assert.equal(report.dataset.share, 0.5);
    assert.equal(report.dataset.drifted, true);
    assert.equal(report.dataset.correction, 'none');
  });

  void it('states the applied correction', () => {
    const { status, stdout, stderr } = runCommand([...baseArgs, '--correction', 'bonferroni']);
    assert.equal(status, 0, stderr);
    const report = JSON.parse(stdout) as DatasetDriftResult;
    const score = report.columns.find((column) => column.name === 'score');
    assert.equal(report.dataset.correction, 'bonferroni');
    assert.ok(score !== undefined);
    assert.ok(score.rawPValue !== null);
    assert.equal(score.pValue, Math.min(1, score.rawPValue * 4));
  });

  void it('treats --categorical columns as categories', () => {
    const { status, stdout, stderr } = runCommand([...baseArgs, '--categorical', 'flag,age']);
    assert.equal(status, 0, stderr);
    const report = JSON.parse(stdout) as DatasetDriftResult;
    const age = report.columns.find((column) => column.name === 'age');
    assert.equal(age?.type, 'categorical');
    assert.equal(age.test, 'chisquare');
  });

  const badInputs: { name: string; args: string[]; message: RegExp }[] = [
    {
      name: 'missing file',
      args: ['--reference', fixture('absent.csv'), '--current', fixture('current.csv')],
      message: /Cannot read the reference file/,
    },
    {
      name: 'no header',
      args: ['--reference', fixture('empty.csv'), '--current', fixture('current.csv')],
      message: /Missing header row/,
    },
    {
      name: 'missing column',
      args: ['--reference', fixture('reference.csv'), '--current', fixture('current-missing-column.csv')],
      message: /Missing column 'age' in the current file/,
    },
    {
      name: 'non-numeric value',
      args: ['--reference', fixture('reference.csv'), '--current', fixture('current-non-numeric.csv')],
      message: /Invalid value 'high' in numerical column 'score', data row 3/,
    },
    {
      name: 'unknown test',
      args: [...baseArgs, '--test', 'score=t-test'],
      message: /Unknown test 't-test'.*use one of ks, z, chisquare/,
    },
    {
      name: 'test for column type',
      args: [...baseArgs, '--test', 'ward=ks'],
      message: /does not accept the categorical column 'ward'/,
    },
    {
      name: 'unknown column',
      args: [...baseArgs, '--threshold', 'height=0.1'],
      message: /Unknown column 'height'/,
    },
    {
      name: 'bad threshold',
      args: [...baseArgs, '--threshold', 'age=high'],
      message: /Invalid number 'high'/,
    },
    {
      name: 'bad correction',
      args: [...baseArgs, '--correction', 'holm'],
      message: /Unknown --correction 'holm'/,
    },
    {
      name: 'missing current option',
      args: ['--reference', fixture('reference.csv')],
      message: /Missing --reference or --current/,
    },
  ];
  for (const { name, args, message } of badInputs) {
    void it(`exits 2 on ${name}`, () => {
      const { status, stdout, stderr } = runCommand(args);
      assert.equal(status, 2);
      assert.match(stderr, message);
      assert.equal(stdout, '');
    });
  }
});
