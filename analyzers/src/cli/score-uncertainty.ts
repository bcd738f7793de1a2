/**
 * Scores the MC dropout uncertainty of input rows with a model's stored surrogate and prints, per row, the
 * mean, standard deviation, predictive entropy and mutual information as JSON.
 *
 * Usage: npx tsx analyzers/src/cli/score-uncertainty.ts --model sepsis-risk --input rows.csv
 *          [--samples 30] [--surrogate-version 2]
 * The CSV header names the model's inputs (an empty cell is a missing value) and may add an `id` column.
 * Exit status: 0 after printing the result, 2 on invalid input or no surrogate, 3 when MongoDB cannot be
 * reached.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { MonitorMedConfig } from '@monitormed/common';
import { encodeFeatures } from '../surrogate/features.js';
import { SurrogateStore, surrogateBytes } from '../surrogate/store.js';
import { DEFAULT_MC_SAMPLES, McDropoutScorer } from '../uncertainty/mc-dropout.js';
import { connectMongoForCli, readInputCsv, resolveModel, runCli } from './surrogate-cli.js';
import { UsageError } from './usage-error.js';

/** Maximum T the command accepts, because the batch keeps rows × T feature rows in memory. */
const MAX_SAMPLES = 10_000;

/**
 * Runs the scoring for the given arguments.
 * @param args - Arguments after the script name.
 * @param config - MongoDB address.
 * @returns The surrogate used and one estimate per row.
 */
export async function runScoreUncertainty(
  args: readonly string[],
  config: MonitorMedConfig
): Promise<object> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        model: { type: 'string' },
        input: { type: 'string' },
        samples: { type: 'string' },
        'surrogate-version': { type: 'string' },
      },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}. Run with --model sepsis-risk --input rows.csv.`);
  }
  if (values.model === undefined || values.input === undefined) {
    throw new UsageError('Missing --model or --input: e.g. --model sepsis-risk --input rows.csv.');
  }

  const samples = values.samples === undefined ? DEFAULT_MC_SAMPLES : Number(values.samples);
  if (!Number.isInteger(samples) || samples < 2 || samples > MAX_SAMPLES) {
    throw new UsageError(
      `Invalid --samples '${String(values.samples)}': expected a whole number of passes from 2 to ${String(MAX_SAMPLES)}.`
    );
  }
  const versionText = values['surrogate-version'];
  const requestedVersion = versionText === undefined ? undefined : Number(versionText);
  if (requestedVersion !== undefined && !(Number.isInteger(requestedVersion) && requestedVersion >= 1)) {
    throw new UsageError(
      `Invalid --surrogate-version '${String(versionText)}': expected a whole number from 1.`
    );
  }

  const { spec } = resolveModel(values.model);
  const rows = readInputCsv(values.input, spec, false);

  const mongo = await connectMongoForCli(config);
  let document;
  try {
    const store = new SurrogateStore(mongo.db);
    document =
      requestedVersion === undefined
        ? await store.findActive(spec.modelId)
        : await store.findVersion(spec.modelId, requestedVersion);
  } finally {
    await mongo.client.close();
  }
  if (document === undefined) {
    throw new UsageError(
      requestedVersion === undefined
        ? `Model '${spec.modelId}' has no active surrogate in ${config.mongoDatabase}; train one with train-surrogate first.`
        : `Model '${spec.modelId}' has no surrogate version ${String(requestedVersion)} in ${config.mongoDatabase}.`
    );
  }

  const scorer = await McDropoutScorer.create(surrogateBytes(document), document.featureNames.length);
  try {
    const estimates = await scorer.estimate(
      rows.map((row) => encodeFeatures(spec, row.values)),
      samples
    );
    return {
      modelId: spec.modelId,
      surrogateVersion: document.version,
      samples,
      fidelity: document.fidelity,
      rows: estimates.map((estimate, index) => ({
        row: index + 1,
        ...(rows[index]?.id === undefined ? {} : { id: rows[index].id }),
        mean: estimate.mean,
        std: estimate.std,
        predictiveEntropyBits: estimate.predictiveEntropyBits,
        expectedEntropyBits: estimate.expectedEntropyBits,
        mutualInformationBits: estimate.mutualInformationBits,
      })),
    };
  } finally {
    await scorer.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await runCli('score-uncertainty', (config) => runScoreUncertainty(process.argv.slice(2), config));
}
