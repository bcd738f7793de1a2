/**
 * Stores a model version's reference profile, from a CSV file of training or validation data or from a
 * chosen period of production windows, and prints its description as JSON.
 *
 * Usage: npx tsx analyzers/src/cli/reference-profile.ts upload --model <id> --version <v> <file.csv>
 *        npx tsx analyzers/src/cli/reference-profile.ts from-windows --model <id> --version <v> --first <N>
 *        npx tsx analyzers/src/cli/reference-profile.ts from-windows --model <id> --version <v> --from <day> --to <day>
 * The CSV has a header row and one column per feature; a `score` column is the model's output probability.
 * `from-windows` merges the day windows already rolled up (YYYY-MM-DD, both ends included).
 * Mongo comes from MONGO_URL and MONGO_DATABASE. Exit status: 0 on success, 2 on invalid input, 1 when Mongo fails.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { connectMongo, loadConfig, type MonitorMedConfig } from '@monitormed/common';
import type { ReferenceProfileDocument } from '../store/evaluation-documents.js';
import { EvaluationStore } from '../store/evaluation-store.js';
import {
  buildReferenceFromWindows,
  ReferenceDataError,
  uploadReferenceProfile,
  type ReferencePeriod,
} from '../store/reference-profile.js';
import { UsageError } from './usage-error.js';

const USAGE =
  'Usage: reference-profile.ts upload --model <id> --version <v> <file.csv> | from-windows --model <id> --version <v> (--first <N> | --from <YYYY-MM-DD> --to <YYYY-MM-DD>)';
const DAY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Runs one command.
 * @param args - Arguments after the script name.
 * @param config - Mongo address and database.
 * @returns The stored profile description.
 * @throws UsageError on invalid input.
 */
export async function runReferenceProfile(
  args: readonly string[],
  config: MonitorMedConfig
): Promise<ReferenceProfileDocument> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        model: { type: 'string' },
        version: { type: 'string' },
        first: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
      },
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}. ${USAGE}`);
  }
  const { values, positionals } = parsed;
  const [command, file, ...extra] = positionals;
  if (values.model === undefined || values.version === undefined) {
    throw new UsageError(`Missing --model or --version. ${USAGE}`);
  }

  let run: (store: EvaluationStore) => Promise<ReferenceProfileDocument>;
  const target = { modelId: values.model, modelVersion: values.version };
  if (command === 'upload') {
    if (file === undefined || extra.length > 0) {
      throw new UsageError(`Give exactly one CSV file after 'upload'. ${USAGE}`);
    }
    run = (store) => uploadReferenceProfile(store, { ...target, path: file });
  } else if (command === 'from-windows') {
    const period = parsePeriod(values.first, values.from, values.to);
    run = (store) => buildReferenceFromWindows(store, { ...target, period });
  } else {
    throw new UsageError(`Unknown or missing command '${String(command)}'. ${USAGE}`);
  }

  const mongo = await connectMongo(config, 5_000).catch((err: unknown) => {
    throw new Error(`Cannot connect to MongoDB at ${config.mongoUrl}; start it or set MONGO_URL.`, {
      cause: err,
    });
  });
  try {
    const store = new EvaluationStore(mongo.db);
    await store.ensureIndexes();
    return await run(store);
  } catch (error) {
    if (error instanceof ReferenceDataError) {
      throw new UsageError(error.message);
    }
    throw error;
  } finally {
    await mongo.client.close();
  }
}

function parsePeriod(
  first: string | undefined,
  from: string | undefined,
  to: string | undefined
): ReferencePeriod {
  if (first !== undefined && from === undefined && to === undefined) {
    const count = Number(first);
    if (!Number.isInteger(count) || count < 1) {
      throw new UsageError(`Invalid --first '${first}': expected a whole number of day windows, at least 1.`);
    }
    return { firstWindows: count };
  }
  if (first === undefined && from !== undefined && to !== undefined) {
    if (!DAY.test(from) || !DAY.test(to) || from > to) {
      throw new UsageError(
        `Invalid --from '${from}' or --to '${to}': expected two days YYYY-MM-DD, the first not after the second.`
      );
    }
    return { from, to };
  }
  throw new UsageError(`Give either --first <N> or both --from and --to. ${USAGE}`);
}

async function main(): Promise<void> {
  try {
    const profile = await runReferenceProfile(process.argv.slice(2), loadConfig());
    process.stdout.write(`${JSON.stringify(profile, null, 2)}\n`);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`reference-profile: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`reference-profile: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}
