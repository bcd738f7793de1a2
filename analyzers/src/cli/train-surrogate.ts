/**
 * Trains a surrogate of a monitored model from logged pairs (from FHIR, or from a CSV file), exports it to
 * ONNX, stores it in MongoDB as the model's new active surrogate version, and prints its fidelity as JSON.
 *
 * Usage: npx tsx analyzers/src/cli/train-surrogate.ts --model sepsis-risk [--from 2025-01-01 --to 2025-02-01]
 *          [--pairs pairs.csv] [--lookback-hours 72] [--hidden 32,32] [--dropout 0.1] [--seed 1]
 *          [--max-epochs 300]
 * Exit status: 0 after printing the result, 2 on invalid input or too few pairs, 3 when the FHIR server or
 * MongoDB cannot be reached.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createFhirClient, type MonitorMedConfig } from '@monitormed/common';
import { encodeFeatures, featureNames } from '../surrogate/features.js';
import { exportMlpToOnnx } from '../surrogate/onnx-export.js';
import { extractPairs, ModelDeviceNotFoundError, type ExtractedPairs } from '../surrogate/pairs.js';
import { SurrogateStore } from '../surrogate/store.js';
import {
  MIN_TRAINING_PAIRS,
  trainSurrogate,
  TrainingDataError,
  type SurrogatePair,
  type TrainingOptions,
} from '../surrogate/train.js';
import { connectMongoForCli, fhirFailure, readInputCsv, resolveModel, runCli } from './surrogate-cli.js';
import { UsageError } from './usage-error.js';

/** Version of the surrogate format written into the ONNX metadata. */
export const SURROGATE_FORMAT = 'monitormed-surrogate-mlp/1';

/** Parsed command-line options. */
export interface TrainSurrogateOptions {
  modelId: string;
  from?: string;
  to?: string;
  pairsPath?: string;
  lookbackHours?: number;
  training: Partial<TrainingOptions>;
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
        from: { type: 'string' },
        to: { type: 'string' },
        pairs: { type: 'string' },
        'lookback-hours': { type: 'string' },
        hidden: { type: 'string' },
        dropout: { type: 'string' },
        seed: { type: 'string' },
        'max-epochs': { type: 'string' },
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
  for (const [option, text] of [
    ['--from', values.from],
    ['--to', values.to],
  ] as const) {
    if (text !== undefined && Number.isNaN(Date.parse(text))) {
      throw new UsageError(`Invalid ${option} '${text}': expected a date or dateTime such as 2025-01-31.`);
    }
  }

  const training: Partial<TrainingOptions> = {};
  if (values.hidden !== undefined) {
    training.hiddenSizes = values.hidden
      .split(',')
      .map((text) =>
        parseNumber(
          text,
          '--hidden',
          (v) => Number.isInteger(v) && v >= 1 && v <= 512,
          'comma-separated whole numbers of units from 1 to 512'
        )
      );
  }
  if (values.dropout !== undefined) {
    training.dropoutRate = parseNumber(
      values.dropout,
      '--dropout',
      (v) => v > 0 && v < 1,
      'a dropout rate above 0 and below 1'
    );
  }
  if (values.seed !== undefined) {
    training.seed = parseNumber(values.seed, '--seed', (v) => Number.isInteger(v), 'a whole number');
  }
  if (values['max-epochs'] !== undefined) {
    training.maxEpochs = parseNumber(
      values['max-epochs'],
      '--max-epochs',
      (v) => Number.isInteger(v) && v >= 1,
      'a whole number of epochs, at least 1'
    );
  }

  const lookback = values['lookback-hours'];
  return {
    modelId: values.model,
    ...(values.from === undefined ? {} : { from: values.from }),
    ...(values.to === undefined ? {} : { to: values.to }),
    ...(values.pairs === undefined ? {} : { pairsPath: values.pairs }),
    ...(lookback === undefined
      ? {}
      : {
          lookbackHours: parseNumber(lookback, '--lookback-hours', (v) => v > 0, 'a number of hours above 0'),
        }),
    training,
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
 * Runs the training for the given arguments.
 * @param args - Arguments after the script name.
 * @param config - Peer addresses.
 * @returns What was stored, with the fidelity.
 */
export async function runTrainSurrogate(args: readonly string[], config: MonitorMedConfig): Promise<object> {
  const options = parseTrainOptions(args);
  const { model, spec } = resolveModel(options.modelId, options.lookbackHours);

  let pairs: SurrogatePair[];
  let extraction: Omit<ExtractedPairs, 'pairs'> | undefined;
  if (options.pairsPath === undefined) {
    let extracted: ExtractedPairs;
    try {
      extracted = await extractPairs(createFhirClient(config), spec, {
        ...(options.from === undefined ? {} : { from: options.from }),
        ...(options.to === undefined ? {} : { to: options.to }),
      });
    } catch (err) {
      if (err instanceof ModelDeviceNotFoundError) {
        throw new UsageError(`${err.message} Send results first, or pass --pairs with a CSV file.`);
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

  let trained;
  try {
    trained = trainSurrogate(pairs, model.positiveThreshold, options.training);
  } catch (err) {
    if (err instanceof TrainingDataError) {
      throw new UsageError(err.message);
    }
    throw err;
  }

  const names = featureNames(spec);
  const mongo = await connectMongoForCli(config);
  try {
    const store = new SurrogateStore(mongo.db);
    await store.ensureIndexes();
    const stored = await store.saveVersion(
      {
        modelId: model.modelId,
        featureNames: names,
        trainingSize: pairs.length,
        splitSizes: trained.splitSizes,
        fidelity: trained.fidelity,
        dropoutRate: trained.model.dropoutRate,
        hiddenSizes: trained.model.layers.slice(0, -1).map((layer) => layer.outputSize),
        lookbackHours: spec.lookbackHours,
        source: options.pairsPath === undefined ? 'fhir' : 'csv',
        ...(options.pairsPath === undefined
          ? {
              trainingRange: {
                ...(options.from === undefined ? {} : { from: options.from }),
                ...(options.to === undefined ? {} : { to: options.to }),
              },
            }
          : {}),
        trainedAt: new Date(),
      },
      (version) =>
        exportMlpToOnnx(trained.model, {
          dropout: 'random-mask',
          featureNames: names,
          metadata: {
            format: SURROGATE_FORMAT,
            modelId: model.modelId,
            modelVersion: model.version,
            surrogateVersion: String(version),
            trainingSize: String(pairs.length),
            fidelity: JSON.stringify(trained.fidelity),
            dropoutRate: String(trained.model.dropoutRate),
            lookbackHours: String(spec.lookbackHours),
          },
        })
    );

    return {
      modelId: stored.modelId,
      surrogateVersion: stored.version,
      active: stored.active,
      source: stored.source,
      trainingSize: stored.trainingSize,
      splitSizes: stored.splitSizes,
      ...(extraction === undefined ? {} : { extraction }),
      fidelity: stored.fidelity,
      bestEpoch: trained.bestEpoch,
      epochsRun: trained.epochsRun,
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
