/**
 * Trains a surrogate of a monitored model from logged pairs (from FHIR, or from a CSV file), exports it to
 * ONNX, stores it in MongoDB as the model's new active surrogate version, and prints its fidelity as JSON.
 * With `--queue` it queues the training for the analyzer workers instead (queue monitormed-train-surrogate).
 *
 * Usage:
 *   npx tsx analyzers/src/cli/train-surrogate.ts --model sepsis-risk [--model-version 2.1.0]
 *     [--from 2025-01-01 --to 2025-02-01] [--pairs pairs.csv] [--lookback-hours 72] [--hidden 32,32]
 *     [--dropout 0.1] [--seed 1] [--max-epochs 300] [--queue [--key 2025-02-01] [--wait]]
 * Exit status: 0 after printing the result, 2 on invalid input, too few pairs or a failed queued training,
 * 3 when the FHIR server, MongoDB or Redis cannot be reached.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createFhirClient, type MonitorMedConfig } from '@monitormed/common';
import { encodeFeatures } from '../surrogate/features.js';
import { extractPairs, ModelDeviceNotFoundError, type ExtractedPairs } from '../surrogate/pairs.js';
import { SurrogateStore } from '../surrogate/store.js';
import { trainAndStoreSurrogate } from '../surrogate/surrogate-training.js';
import { MIN_TRAINING_PAIRS, TrainingDataError, type SurrogatePair } from '../surrogate/train.js';
import { TRAINING_SETTING_RULES, type SurrogateTrainingSettings } from '../surrogate/training-settings.js';
import { queueSurrogateTraining } from './queue-surrogate-training.js';
import { connectMongoForCli, fhirFailure, readInputCsv, resolveModel, runCli } from './surrogate-cli.js';
import { UsageError } from './usage-error.js';

export { SURROGATE_FORMAT } from '../surrogate/surrogate-training.js';

/** Parsed command-line options. */
export interface TrainSurrogateOptions {
  modelId: string;
  /** Device version whose results are read; defaults to the catalog's version of the model. */
  modelVersion?: string;
  from?: string;
  to?: string;
  pairsPath?: string;
  lookbackHours?: number;
  training: SurrogateTrainingSettings;
  /** Set by `--queue`: queue the training under `key` (default: today's UTC date), and wait when `wait`. */
  queue?: { key?: string; wait: boolean };
}

/**
 * Parses the command-line arguments.
 * @param args - Arguments after the script name.
 * @returns The options.
 * @throws UsageError on a missing, unknown or invalid option.
 */
export function parseTrainOptions(args: readonly string[]): TrainSurrogateOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        model: { type: 'string' },
        'model-version': { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        pairs: { type: 'string' },
        'lookback-hours': { type: 'string' },
        hidden: { type: 'string' },
        dropout: { type: 'string' },
        seed: { type: 'string' },
        'max-epochs': { type: 'string' },
        queue: { type: 'boolean' },
        key: { type: 'string' },
        wait: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}. Run with --model sepsis-risk.`);
  }

  if (values.model === undefined) {
    throw new UsageError('Missing --model: give the model id, e.g. --model sepsis-risk.');
  }
  if (values.pairs !== undefined && (values.from !== undefined || values.to !== undefined)) {
    throw new UsageError(
      '--from and --to select FHIR results; leave them out when --pairs gives a CSV file.'
    );
  }
  if (values.queue === true && values.pairs !== undefined) {
    throw new UsageError(
      '--queue trains a worker on FHIR results, so it takes no --pairs file; train from the CSV file without --queue.'
    );
  }
  if (values.queue !== true && (values.key !== undefined || values.wait === true)) {
    throw new UsageError('--key and --wait apply to a queued training; add --queue.');
  }
  if (values.key?.trim() === '' || values['model-version']?.trim() === '') {
    throw new UsageError('Invalid empty --key or --model-version: give a value or leave the option out.');
  }
  for (const [option, text] of [
    ['--from', values.from],
    ['--to', values.to],
  ] as const) {
    if (text !== undefined && Number.isNaN(Date.parse(text))) {
      throw new UsageError(`Invalid ${option} '${text}': expected a date or dateTime such as 2025-01-31.`);
    }
  }

  const rules = TRAINING_SETTING_RULES;
  const training: SurrogateTrainingSettings = {};
  if (values.hidden !== undefined) {
    training.hiddenSizes = values.hidden
      .split(',')
      .map((text) =>
        parseNumber(
          text,
          '--hidden',
          rules.hiddenSize.isValid,
          `comma-separated ${rules.hiddenSize.expected}`
        )
      );
  }
  if (values.dropout !== undefined) {
    training.dropoutRate = parseNumber(
      values.dropout,
      '--dropout',
      rules.dropoutRate.isValid,
      rules.dropoutRate.expected
    );
  }
  if (values.seed !== undefined) {
    training.seed = parseNumber(values.seed, '--seed', rules.seed.isValid, rules.seed.expected);
  }
  if (values['max-epochs'] !== undefined) {
    training.maxEpochs = parseNumber(
      values['max-epochs'],
      '--max-epochs',
      rules.maxEpochs.isValid,
      rules.maxEpochs.expected
    );
  }

  const lookback = values['lookback-hours'];
  return {
    modelId: values.model,
    ...(values['model-version'] === undefined ? {} : { modelVersion: values['model-version'] }),
    ...(values.from === undefined ? {} : { from: values.from }),
    ...(values.to === undefined ? {} : { to: values.to }),
    ...(values.pairs === undefined ? {} : { pairsPath: values.pairs }),
    ...(lookback === undefined
      ? {}
      : {
          lookbackHours: parseNumber(
            lookback,
            '--lookback-hours',
            rules.lookbackHours.isValid,
            rules.lookbackHours.expected
          ),
        }),
    training,
    ...(values.queue === true
      ? { queue: { ...(values.key === undefined ? {} : { key: values.key }), wait: values.wait === true } }
      : {}),
  };
}

function parseNumber(
  text: string,
  option: string,
  isValid: (value: number) => boolean,
  expected: string
): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || !isValid(value)) {
    throw new UsageError(`Invalid ${option} '${text}': expected ${expected}.`);
  }
  return value;
}

/**
 * Runs the training for the given arguments, or with `--queue` queues it for a worker.
 * @param args - Arguments after the script name.
 * @param config - Peer addresses.
 * @param queuePrefix - Bull key prefix of the workers' queues, for `--queue`.
 * @returns What was stored, with the fidelity, or the queued job.
 */
export async function runTrainSurrogate(
  args: readonly string[],
  config: MonitorMedConfig,
  queuePrefix = process.env['QUEUE_PREFIX'] ?? 'bull'
): Promise<object> {
  const options = parseTrainOptions(args);
  const { model, spec } = resolveModel(options.modelId, options.lookbackHours);
  const modelVersion = options.modelVersion ?? model.version;

  if (options.queue !== undefined) {
    return queueSurrogateTraining(
      {
        modelId: model.modelId,
        modelVersion,
        trainingKey: options.queue.key ?? new Date().toISOString().slice(0, 10),
        ...(options.from === undefined ? {} : { from: options.from }),
        ...(options.to === undefined ? {} : { to: options.to }),
        ...(options.lookbackHours === undefined ? {} : { lookbackHours: options.lookbackHours }),
        ...(Object.keys(options.training).length === 0 ? {} : { training: options.training }),
      },
      { config, queuePrefix, wait: options.queue.wait }
    );
  }

  let pairs: SurrogatePair[];
  let extraction: Omit<ExtractedPairs, 'pairs'> | undefined;
  if (options.pairsPath === undefined) {
    let extracted: ExtractedPairs;
    try {
      extracted = await extractPairs(createFhirClient(config), spec, {
        modelVersion,
        ...(options.from === undefined ? {} : { from: options.from }),
        ...(options.to === undefined ? {} : { to: options.to }),
      });
    } catch (err) {
      if (err instanceof ModelDeviceNotFoundError) {
        throw new UsageError(
          `${err.message} Send results first, choose the version with --model-version, or pass --pairs with a CSV file.`
        );
      }
      throw fhirFailure(err, config);
    }
    pairs = extracted.pairs;
    extraction = { resultsRead: extracted.resultsRead, skipped: extracted.skipped };
  } else {
    pairs = readInputCsv(options.pairsPath, spec, true).map((row) => ({
      features: encodeFeatures(spec, row.values),
      probability: row.probability ?? Number.NaN,
    }));
  }

  if (pairs.length < MIN_TRAINING_PAIRS) {
    const where =
      options.pairsPath ??
      `FHIR results of ${model.modelId}${options.from === undefined && options.to === undefined ? '' : ' in the date range'}`;
    throw new UsageError(
      `Too few pairs: ${String(pairs.length)} from ${where}, at least ${String(MIN_TRAINING_PAIRS)} needed. Widen --from/--to or --lookback-hours, or give more rows.`
    );
  }

  const mongo = await connectMongoForCli(config);
  try {
    const store = new SurrogateStore(mongo.db);
    await store.ensureIndexes();
    let result;
    try {
      result = await trainAndStoreSurrogate(store, {
        model,
        modelVersion,
        spec,
        pairs,
        training: options.training,
        source: options.pairsPath === undefined ? 'fhir' : 'csv',
        ...(options.pairsPath === undefined
          ? {
              trainingRange: {
                ...(options.from === undefined ? {} : { from: options.from }),
                ...(options.to === undefined ? {} : { to: options.to }),
              },
            }
          : {}),
      });
    } catch (err) {
      if (err instanceof TrainingDataError) {
        throw new UsageError(err.message);
      }
      throw err;
    }

    const { stored } = result;
    return {
      modelId: stored.modelId,
      modelVersion,
      surrogateVersion: stored.version,
      active: stored.active,
      source: stored.source,
      trainingSize: stored.trainingSize,
      splitSizes: stored.splitSizes,
      ...(extraction === undefined ? {} : { extraction }),
      fidelity: stored.fidelity,
      bestEpoch: result.bestEpoch,
      epochsRun: result.epochsRun,
      sizeBytes: stored.sizeBytes,
      sha256: stored.sha256,
    };
  } finally {
    await mongo.client.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await runCli('train-surrogate', (config) => runTrainSurrogate(process.argv.slice(2), config));
}
