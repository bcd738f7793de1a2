/**
 * Parts shared by the surrogate commands: model lookup, CSV input rows, peer connections with clear errors,
 * and JSON output.
 */
import {
  connectMongo,
  loadConfig,
  loadModelCatalog,
  type AiModelDefinition,
  type MongoHandle,
  type MonitorMedConfig,
} from '@monitormed/common';
import { httpStatusOf } from '../fhir/gateway.js';
import { featureSpecFor, type InputValues, type SurrogateFeatureSpec } from '../surrogate/features.js';
import { readCsv } from './drift-report.js';
import { PeerUnavailableError } from './peer-unavailable-error.js';
import { UsageError } from './usage-error.js';

/**
 * Finds a model in the catalog and its feature spec.
 * @param modelId - The --model value.
 * @param lookbackHours - The --lookback-hours value, when given.
 * @returns The catalog entry and the spec.
 * @throws UsageError for a model that is not in the catalog or whose inputs MonitorMed cannot gather.
 */
export function resolveModel(
  modelId: string,
  lookbackHours?: number
): { model: AiModelDefinition; spec: SurrogateFeatureSpec } {
  const catalog = loadModelCatalog();
  const model = catalog.find((entry) => entry.modelId === modelId);
  if (model === undefined) {
    throw new UsageError(
      `Unknown model '${modelId}': use one of ${catalog.map((entry) => entry.modelId).join(', ')}.`
    );
  }
  const spec = featureSpecFor(modelId, lookbackHours);
  if (spec === undefined) {
    throw new UsageError(
      `Model '${modelId}' has no known inputs, so it cannot have a surrogate; surrogates exist for sepsis-risk.`
    );
  }
  return { model, spec };
}

/** One CSV row as input values, with the row's id and probability columns when present. */
export interface CsvInputRow {
  id?: string;
  probability?: number;
  values: InputValues;
}

/**
 * Reads input rows from a CSV file whose header names the model's inputs (an empty cell is a missing
 * value), plus the optional columns `id` and, when `requireProbability`, the column `probability`.
 * @param path - File path.
 * @param spec - The model's inputs.
 * @param requireProbability - Whether each row must have a probability from 0 to 1.
 * @returns The rows.
 * @throws UsageError on an unreadable file, a missing or unknown column, or an invalid cell.
 */
export function readInputCsv(
  path: string,
  spec: SurrogateFeatureSpec,
  requireProbability: boolean
): CsvInputRow[] {
  const table = readCsv(path, 'input');
  const inputNames = spec.inputs.map((input) => input.name);
  const allowed = new Set([...inputNames, 'id', ...(requireProbability ? ['probability'] : [])]);

  const missing = inputNames.filter((name) => !table.header.includes(name));
  if (requireProbability && !table.header.includes('probability')) {
    missing.push('probability');
  }
  if (missing.length > 0) {
    throw new UsageError(
      `Missing column(s) ${missing.join(', ')} in '${path}': the header needs ${[...allowed].join(', ')}.`
    );
  }
  const unknown = table.header.filter((name) => !allowed.has(name));
  if (unknown.length > 0) {
    throw new UsageError(
      `Unknown column(s) ${unknown.join(', ')} in '${path}': the allowed columns are ${[...allowed].join(', ')}.`
    );
  }

  return table.rows.map((cells, rowIndex) => {
    const cellOf = (name: string): string => cells[table.header.indexOf(name)] ?? '';
    const values: InputValues = {};
    for (const name of inputNames) {
      const cell = cellOf(name);
      if (cell === '') {
        continue;
      }
      const value = Number(cell);
      if (!Number.isFinite(value)) {
        throw new UsageError(
          `Invalid value '${cell}' in column '${name}', data row ${String(rowIndex + 1)} of '${path}': use a number, or leave the cell empty for a missing value.`
        );
      }
      values[name] = value;
    }

    const row: CsvInputRow = { values };
    const id = table.header.includes('id') ? cellOf('id') : '';
    if (id !== '') {
      row.id = id;
    }
    if (requireProbability) {
      const text = cellOf('probability');
      const probability = Number(text);
      if (text === '' || !(probability >= 0 && probability <= 1)) {
        throw new UsageError(
          `Invalid probability '${text}' in data row ${String(rowIndex + 1)} of '${path}': expected a number from 0 to 1.`
        );
      }
      row.probability = probability;
    }
    return row;
  });
}

/**
 * Connects to MongoDB, turning a connection failure into a {@link PeerUnavailableError} with the fix.
 * @param config - Service configuration.
 * @returns The handle; the caller closes it.
 */
export async function connectMongoForCli(config: MonitorMedConfig): Promise<MongoHandle> {
  try {
    return await connectMongo(config, 5_000);
  } catch (err) {
    throw new PeerUnavailableError(
      `Cannot connect to MongoDB at ${config.mongoUrl} (${(err as Error).message}); start it or set MONGO_URL.`,
      { cause: err }
    );
  }
}

/**
 * Describes a failed FHIR call as a {@link PeerUnavailableError} with the server address and the fix.
 * @param err - The error fhir-kit-client threw.
 * @param config - Service configuration.
 * @returns The error to throw.
 */
export function fhirFailure(err: unknown, config: MonitorMedConfig): PeerUnavailableError {
  const status = httpStatusOf(err);
  const detail =
    status === undefined
      ? `Cannot reach the FHIR server at ${config.fhirBaseUrl} (${(err as Error).message}); start it or set FHIR_BASE_URL.`
      : `The FHIR server at ${config.fhirBaseUrl} returned HTTP ${String(status)}; check its log.`;
  return new PeerUnavailableError(detail, { cause: err });
}

/** Replaces NaN and infinite numbers, which JSON cannot hold, by null. */
export function finiteOrNull(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? null : value;
}

/**
 * Runs a command's main function: prints its result as JSON, or its error with exit status 2 (invalid
 * input) or 3 (peer unavailable).
 * @param name - Command name for messages.
 * @param run - The command.
 */
export async function runCli(
  name: string,
  run: (config: MonitorMedConfig) => Promise<unknown>
): Promise<void> {
  try {
    const result = await run(loadConfig());
    process.stdout.write(`${JSON.stringify(result, finiteOrNull, 2)}\n`);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${name}: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (error instanceof PeerUnavailableError) {
      process.stderr.write(`${name}: ${error.message}\n`);
      process.exitCode = 3;
      return;
    }
    throw error;
  }
}
