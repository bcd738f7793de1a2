/**
 * MC dropout latency per result at T = 30 on a surrogate of the demo sepsis model, in three ways:
 * all T passes in one batched ONNX Runtime run, a loop of T single-row runs, and several results batched
 * together. Writes bench/results/mc-dropout.md with the date, machine, load and command.
 *
 * Usage: npm run bench:mc-dropout [-- --results 2000 --batch 16 --samples 30]
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { featureNames, featureSpecFor } from '../analyzers/src/surrogate/features.js';
import { exportMlpToOnnx } from '../analyzers/src/surrogate/onnx-export.js';
import { syntheticSepsisPairs } from '../analyzers/src/surrogate/synthetic-pairs.js';
import { trainSurrogate } from '../analyzers/src/surrogate/train.js';
import { McDropoutScorer } from '../analyzers/src/uncertainty/mc-dropout.js';

const { values } = parseArgs({
  options: {
    results: { type: 'string', default: '2000' },
    batch: { type: 'string', default: '16' },
    samples: { type: 'string', default: '30' },
  },
});
const resultCount = Number(values.results);
const batchSize = Number(values.batch);
const samples = Number(values.samples);
for (const [name, value] of [
  ['--results', resultCount],
  ['--batch', batchSize],
  ['--samples', samples],
] as const) {
  if (!Number.isInteger(value) || value < 2) {
    throw new Error(`Invalid ${name} ${String(value)}: expected a whole number of at least 2.`);
  }
}

/** Returns the q-quantile (0..1) of the values by the nearest-rank method. */
function quantile(sorted: readonly number[], q: number): number {
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

function summarize(latenciesMs: number[]): { p50: number; p99: number; mean: number } {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / sorted.length;
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), mean };
}

const spec = featureSpecFor('sepsis-risk');
if (spec === undefined) {
  throw new Error('The sepsis-risk feature spec is missing.');
}
const names = featureNames(spec);
const trained = trainSurrogate(syntheticSepsisPairs(spec, 1000, 42), 0.5, { maxEpochs: 80 });
const bytes = exportMlpToOnnx(trained.model, { dropout: 'random-mask', metadata: {}, featureNames: names });
const rows = syntheticSepsisPairs(spec, resultCount, 43).map((pair) => pair.features);
const scorer = await McDropoutScorer.create(bytes, names.length);

// Warm-up: first runs allocate ONNX Runtime buffers.
for (let index = 0; index < 20; index += 1) {
  await scorer.estimate([rows[index % rows.length] ?? []], samples);
}

const batched: number[] = [];
for (const row of rows) {
  const start = performance.now();
  await scorer.estimate([row], samples);
  batched.push(performance.now() - start);
}

const looped: number[] = [];
for (const row of rows) {
  const start = performance.now();
  for (let pass = 0; pass < samples; pass += 1) {
    await scorer.samplePasses([row], 1);
  }
  looped.push(performance.now() - start);
}

const perResultInBatch: number[] = [];
const perBatch: number[] = [];
for (let start = 0; start + batchSize <= rows.length; start += batchSize) {
  const batch = rows.slice(start, start + batchSize);
  const begin = performance.now();
  await scorer.estimate(batch, samples);
  const elapsed = performance.now() - begin;
  perBatch.push(elapsed);
  perResultInBatch.push(elapsed / batchSize);
}
await scorer.close();

const require = createRequire(import.meta.url);
const ortVersion = (require('onnxruntime-node/package.json') as { version: string }).version;
const uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
const cpu = cpus()[0]?.model ?? 'unknown CPU';
const format = (value: number): string => value.toFixed(3);
const rowsTable = [
  ['One batched run of T passes per result', summarize(batched)],
  ['Loop of T single-row runs per result', summarize(looped)],
  [`${String(batchSize)} results × T passes in one run (per result)`, summarize(perResultInBatch)],
  [`${String(batchSize)} results × T passes in one run (per run)`, summarize(perBatch)],
] as const;

const report = `# MC dropout latency

Latency of MC dropout uncertainty on a surrogate of the demo \`sepsis-risk\` model (${names.length} features,
hidden layers ${trained.model.layers
  .slice(0, -1)
  .map((layer) => String(layer.outputSize))
  .join(' × ')}, dropout ${String(trained.model.dropoutRate)}, double tensors), T = ${String(samples)} passes,
${String(resultCount)} results, ONNX Runtime graph optimization level \`all\`, one intra-op thread. The times cover
the session runs and the summary only; the worker's FHIR search for a result's inputs comes on top.

| Mode | p50 (ms) | p99 (ms) | mean (ms) |
| --- | --- | --- | --- |
${rowsTable.map(([mode, stats]) => `| ${mode} | ${format(stats.p50)} | ${format(stats.p99)} | ${format(stats.mean)} |`).join('\n')}

At p50, one batched run per result is ${(summarize(looped).p50 / summarize(batched).p50).toFixed(1)}× faster than the loop of single runs, and batching
${String(batchSize)} results cuts the per-result time by another ${(summarize(batched).p50 / summarize(perResultInBatch).p50).toFixed(1)}×. At load averages above the 2 cores, the p99
column mostly measures scheduling delays of this process, not the model.

- Date: ${new Date().toISOString()}
- Command: \`npm run bench:mc-dropout -- --results ${String(resultCount)} --batch ${String(batchSize)} --samples ${String(samples)}\`
- Machine: ${String(cpus().length)} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, onnxruntime-node ${ortVersion}
- Load: \`${uptime}\` (the machine is shared with other engineers' jobs, so the numbers are noisy)
`;

writeFileSync(new URL('./results/mc-dropout.md', import.meta.url), report);
process.stdout.write(report);
