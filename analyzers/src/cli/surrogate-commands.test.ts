/**
 * train-surrogate and score-uncertainty run as commands against the real MongoDB (FerretDB), with a
 * database of their own.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { featureSpecFor, type SurrogateFeatureSpec } from '../surrogate/features.js';
import { syntheticSepsisPairs } from '../surrogate/synthetic-pairs.js';
import { createTestRun, dropTestDatabase, requirePeers } from '../testing/stack.js';

const run = createTestRun();
const trainScript = fileURLToPath(new URL('./train-surrogate.ts', import.meta.url));
const scoreScript = fileURLToPath(new URL('./score-uncertainty.ts', import.meta.url));
let folder = '';
let spec: SurrogateFeatureSpec;

function runCommand(
  script: string,
  args: string[],
  env: Record<string, string> = {}
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], {
    encoding: 'utf8',
    env: { ...process.env, MONGO_DATABASE: run.config.mongoDatabase, LOG_LEVEL: 'warn', ...env },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function writePairsCsv(name: string, count: number): string {
  const names = spec.inputs.map((input) => input.name);
  const lines = [[...names, 'probability'].join(',')];
  for (const pair of syntheticSepsisPairs(spec, count, 21)) {
    lines.push(
      [...names.map((input) => String(pair.values[input] ?? '')), String(pair.probability)].join(',')
    );
  }
  const path = join(folder, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

void describe('surrogate commands', () => {
  before(async () => {
    await requirePeers(run.config);
    folder = mkdtempSync(join(tmpdir(), 'monitormed-surrogate-'));
    const sepsis = featureSpecFor('sepsis-risk');
    assert.ok(sepsis !== undefined);
    spec = sepsis;
  });

  after(async () => {
    rmSync(folder, { recursive: true, force: true });
    await dropTestDatabase(run.config);
  });

  void it('score without surrogate names the fix', () => {
    const input = join(folder, 'none.csv');
    writeFileSync(
      input,
      'heartRate,respiratoryRate,temperature,systolicBp,wbc,lactate,creatinine\n90,18,37,120,8,1,1\n'
    );
    const { status, stderr } = runCommand(scoreScript, ['--model', 'sepsis-risk', '--input', input]);
    assert.equal(status, 2);
    assert.match(stderr, /no active surrogate .* train one with train-surrogate first/);
  });

  void it('trains from CSV and stores version 1', () => {
    const pairs = writePairsCsv('pairs.csv', 300);
    const { status, stdout, stderr } = runCommand(trainScript, [
      '--model',
      'sepsis-risk',
      '--pairs',
      pairs,
      '--hidden',
      '16,16',
      '--max-epochs',
      '60',
    ]);
    assert.equal(status, 0, stderr);
    const result = JSON.parse(stdout) as {
      surrogateVersion: number;
      source: string;
      trainingSize: number;
      fidelity: { n: number; meanAbsoluteError: number; pearson: number; callAgreement: number };
      sizeBytes: number;
    };
    assert.equal(result.surrogateVersion, 1);
    assert.equal(result.source, 'csv');
    assert.equal(result.trainingSize, 300);
    assert.equal(result.fidelity.n, 45);
    assert.ok(result.fidelity.pearson > 0.9, `Pearson ${String(result.fidelity.pearson)}`);
    assert.ok(result.sizeBytes > 0);
  });

  void it('scores rows with the active surrogate', () => {
    const input = join(folder, 'rows.csv');
    writeFileSync(
      input,
      'id,heartRate,respiratoryRate,temperature,systolicBp,wbc,lactate,creatinine\n' +
        'a,80,16,37,120,7.5,1.2,0.9\n' +
        'b,130,28,39.5,85,18,5,2.5\n' +
        'c,,,,,,,\n'
    );
    const { status, stdout, stderr } = runCommand(scoreScript, [
      '--model',
      'sepsis-risk',
      '--input',
      input,
      '--samples',
      '50',
    ]);
    assert.equal(status, 0, stderr);
    const result = JSON.parse(stdout) as {
      surrogateVersion: number;
      samples: number;
      rows: {
        row: number;
        id?: string;
        mean: number;
        std: number;
        predictiveEntropyBits: number;
        mutualInformationBits: number;
      }[];
    };
    assert.equal(result.surrogateVersion, 1);
    assert.equal(result.samples, 50);
    assert.deepEqual(
      result.rows.map((row) => row.id),
      ['a', 'b', 'c']
    );
    for (const row of result.rows) {
      assert.ok(row.mean > 0);
      assert.ok(row.mean < 1);
      assert.ok(row.std > 0);
      assert.ok(row.mutualInformationBits >= 0);
      assert.ok(row.mutualInformationBits <= row.predictiveEntropyBits);
    }
    // A patient far from normal in every input scores higher than a normal one.
    assert.ok((result.rows[1]?.mean ?? 0) > (result.rows[0]?.mean ?? 1));
  });

  void it('unknown model is a usage error', () => {
    const { status, stderr } = runCommand(trainScript, ['--model', 'no-such-model']);
    assert.equal(status, 2);
    assert.match(stderr, /Unknown model 'no-such-model': use one of sepsis-risk, cxr-pneumothorax/);
  });

  void it('model without inputs is a usage error', () => {
    const { status, stderr } = runCommand(trainScript, ['--model', 'cxr-pneumothorax']);
    assert.equal(status, 2);
    assert.match(stderr, /has no known inputs/);
  });

  void it('too few pairs states the minimum', () => {
    const pairs = writePairsCsv('few.csv', 12);
    const { status, stderr } = runCommand(trainScript, ['--model', 'sepsis-risk', '--pairs', pairs]);
    assert.equal(status, 2);
    assert.match(stderr, /Too few pairs: 12 from .*few\.csv, at least 40 needed/);
  });

  void it('unreachable FHIR server exits with 3', () => {
    // Port 9 (discard) on loopback has no FHIR server, so the connection is refused.
    const { status, stderr } = runCommand(trainScript, ['--model', 'sepsis-risk'], {
      FHIR_BASE_URL: 'http://127.0.0.1:9/fhir',
    });
    assert.equal(status, 3);
    assert.match(stderr, /Cannot reach the FHIR server at http:\/\/127\.0\.0\.1:9\/fhir/);
  });

  void it('invalid CSV cell names row and column', () => {
    const input = join(folder, 'bad.csv');
    writeFileSync(
      input,
      'heartRate,respiratoryRate,temperature,systolicBp,wbc,lactate,creatinine\n90,fast,37,120,8,1,1\n'
    );
    const { status, stderr } = runCommand(scoreScript, ['--model', 'sepsis-risk', '--input', input]);
    assert.equal(status, 2);
    assert.match(stderr, /Invalid value 'fast' in column 'respiratoryRate', data row 1/);
  });
});
