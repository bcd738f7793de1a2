/**
 * Drift benchmark: Evidently's univariate drift tests on 1,000,000 reference and 1,000,000 current rows of 20
 * features, computed by the analyzers' TypeScript code (stats/select-test.ts), by numpy and scipy, and by
 * Evidently, on the same seeded data in one run. bench/drift_1m.py generates the data once (float64 files
 * under --data) and times the Python sides. This script times the TypeScript side, compares every value and
 * writes bench/results/drift-1m.md.
 *
 * Usage: npm run bench:drift [-- --rows 1000000 --repeats 3 --python /tmp/mm-venv/bin/python]
 *          [--data /tmp/monitormed-drift-1m] [--skip-evidently]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { evaluateDatasetDrift, type ColumnInput } from '../analyzers/src/stats/select-test.js';
import { isStatTestName } from '../analyzers/src/stats/stat-tests.js';
import {
  renderReport,
  type EngineRun,
  type FeatureTiming,
  type Manifest,
  type ModeName,
  type ModeRun,
} from './drift-1m-report.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    seed: { type: 'string', default: '20260509' },
    repeats: { type: 'string', default: '3' },
    data: { type: 'string', default: '/tmp/monitormed-drift-1m' },
    python: { type: 'string', default: '/tmp/mm-venv/bin/python' },
    'skip-evidently': { type: 'boolean', default: false },
  },
});
const rows = Number(values.rows);
const seed = Number(values.seed);
const repeats = Number(values.repeats);
for (const [name, value, minimum] of [
  ['--rows', rows, 2],
  ['--seed', seed, 0],
  ['--repeats', repeats, 1],
] as const) {
  if (!Number.isInteger(value) || value < minimum) {
    throw new Error(
      `Invalid ${name} ${String(value)}: expected a whole number of at least ${String(minimum)}.`
    );
  }
}
const dataDir = values.data;
const python = values.python;
if (!existsSync(python)) {
  throw new Error(
    `Python not found at ${python}: create the venv of bench/drift_1m.py's docstring or pass --python.`
  );
}

const script = new URL('./drift_1m.py', import.meta.url).pathname;
const loadAverages: { phase: string; uptime: string }[] = [];

function recordLoad(phase: string): void {
  loadAverages.push({ phase, uptime: execFileSync('uptime', { encoding: 'utf8' }).trim() });
}

function runPython(args: string[]): void {
  execFileSync(python, [script, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
}

function readManifest(): Manifest | undefined {
  const path = `${dataDir}/features.json`;
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Manifest) : undefined;
}

/** Reuses the data files when they were generated with this seed and row count, or generates them again. */
function ensureData(): Manifest {
  const existing = readManifest();
  const expectedBytes = (existing?.features.length ?? 0) * rows * 8;
  const reusable =
    existing?.rows === rows &&
    existing.seed === seed &&
    ['reference.f64', 'current.f64'].every(
      (name) => existsSync(`${dataDir}/${name}`) && statSync(`${dataDir}/${name}`).size === expectedBytes
    );
  if (!reusable) {
    runPython(['generate', '--data', dataDir, '--rows', String(rows), '--seed', String(seed)]);
  }
  const manifest = readManifest();
  if (manifest === undefined) {
    throw new Error(`Missing ${dataDir}/features.json after generating the data.`);
  }
  for (const feature of manifest.features) {
    if (!isStatTestName(feature.test)) {
      throw new Error(
        `Invalid test '${feature.test}' for feature ${feature.name} in ${dataDir}/features.json.`
      );
    }
  }
  return manifest;
}

function runPythonEngine(engine: 'scipy' | 'evidently'): EngineRun {
  const output = `${dataDir}/${engine}-timings.json`;
  runPython([engine, '--data', dataDir, '--repeats', '1', '--output', output]);
  return JSON.parse(readFileSync(output, 'utf8')) as EngineRun;
}

/** Joins the passes of one side, keeping every duration, the median load time and the largest peak RSS. */
function mergePasses(passes: readonly EngineRun[]): EngineRun {
  const [first] = passes;
  if (first === undefined) {
    throw new Error('No pass to merge.');
  }
  const modes = {} as Record<ModeName, ModeRun>;
  for (const mode of ['forced', 'automatic'] as const) {
    modes[mode] = {
      features: first.modes[mode].features.map((feature, index) => ({
        ...feature,
        seconds: passes.flatMap((pass) => pass.modes[mode].features[index]?.seconds ?? []),
      })),
      totalSeconds: passes.flatMap((pass) => pass.modes[mode].totalSeconds),
    };
  }
  return {
    ...first,
    loadSeconds: median(passes.map((pass) => pass.loadSeconds)),
    modes,
    peakRssBytes: Math.max(...passes.map((pass) => pass.peakRssBytes)),
  };
}

/** Reads one side as a Float64Array, copying it when the Buffer starts at an offset that is not a multiple of 8. */
function readFloat64(path: string): Float64Array {
  const bytes = readFileSync(path);
  if (bytes.byteOffset % Float64Array.BYTES_PER_ELEMENT === 0) {
    return new Float64Array(
      bytes.buffer,
      bytes.byteOffset,
      bytes.byteLength / Float64Array.BYTES_PER_ELEMENT
    );
  }
  return new Float64Array(Uint8Array.from(bytes).buffer);
}

function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
}

/** Times one TypeScript pass: each feature as a one-column dataset, then all features as one dataset. */
function runTypeScript(manifest: Manifest): EngineRun {
  const begin = performance.now();
  const reference = readFloat64(`${dataDir}/reference.f64`);
  const current = readFloat64(`${dataDir}/current.f64`);
  const loadSeconds = (performance.now() - begin) / 1000;
  const expectedLength = manifest.features.length * manifest.rows;
  if (reference.length !== expectedLength || current.length !== expectedLength) {
    throw new Error(`Invalid data files in ${dataDir}: expected ${String(expectedLength)} values per side.`);
  }

  const modes = {} as Record<ModeName, ModeRun>;
  for (const mode of ['forced', 'automatic'] as const) {
    const inputs: ColumnInput[] = manifest.features.map((feature, index) => ({
      name: feature.name,
      type: feature.type,
      reference: reference.subarray(index * manifest.rows, (index + 1) * manifest.rows),
      current: current.subarray(index * manifest.rows, (index + 1) * manifest.rows),
      ...(mode === 'forced' && isStatTestName(feature.test) ? { test: feature.test } : {}),
    }));

    const features: FeatureTiming[] = inputs.map((input) => {
      const start = performance.now();
      const [result] = evaluateDatasetDrift([input]).columns;
      const seconds = (performance.now() - start) / 1000;
      if (result === undefined) {
        throw new Error(`Missing the result of feature ${input.name}.`);
      }
      return {
        name: input.name,
        test: result.test,
        seconds: [seconds],
        score: result.rawPValue ?? result.distance ?? Number.NaN,
      };
    });
    const start = performance.now();
    evaluateDatasetDrift(inputs);
    modes[mode] = { features, totalSeconds: [(performance.now() - start) / 1000] };
  }

  return {
    engine: 'typescript',
    rows: manifest.rows,
    loadSeconds,
    modes,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    versions: { node: process.version },
  };
}

// scipy and TypeScript passes alternate, so that both sides see the same changes in the machine's load.
const started = new Date();
recordLoad('start');
const manifest = ensureData();
const scipyPasses: EngineRun[] = [];
const typescriptPasses: EngineRun[] = [];
for (let pass = 1; pass <= repeats; pass += 1) {
  recordLoad(`scipy pass ${String(pass)}`);
  scipyPasses.push(runPythonEngine('scipy'));
  recordLoad(`TypeScript pass ${String(pass)}`);
  typescriptPasses.push(runTypeScript(manifest));
}
const scipy = mergePasses(scipyPasses);
const typescript = mergePasses(typescriptPasses);
let evidently: EngineRun | undefined;
if (!values['skip-evidently']) {
  recordLoad('Evidently');
  evidently = runPythonEngine('evidently');
}
recordLoad('end');

const command = [
  'npm run bench:drift --',
  `--rows ${String(rows)}`,
  `--seed ${String(seed)}`,
  `--repeats ${String(repeats)}`,
  `--data ${dataDir}`,
  `--python ${python}`,
  ...(values['skip-evidently'] ? ['--skip-evidently'] : []),
].join(' ');
const report = renderReport({
  manifest,
  typescript,
  scipy,
  evidently,
  median,
  started,
  command,
  loadAverages,
});
writeFileSync(new URL('./results/drift-1m.md', import.meta.url), report);
process.stdout.write(report);
