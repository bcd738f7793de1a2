/**
 * Registers the models of a catalog on the FHIR server: each model's Device and model card. A Device
 * stored from an older catalog is updated with the current identifiers instead of being duplicated.
 *
 * Usage: npm run register -w sdk -- [--catalog models.json] [--model sepsis-risk ...] [--help]
 * Without --catalog the command reads MONITORMED_MODELS_FILE or the demo catalog. Without --model it
 * registers every model of the catalog. The FHIR server is FHIR_BASE_URL.
 * Prints a JSON array with one object per model: modelId, deviceId, action (created, updated or
 * unchanged), versionId and modelCardId.
 * Exit status: 0 when every model is registered, 2 on invalid arguments or catalog, 1 when a FHIR
 * request fails.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  ModelCatalogError,
  createFhirClient,
  loadConfig,
  loadModelCatalog,
  registerModel,
  type AiModelDefinition,
  type ModelRegistration,
  type MonitorMedConfig,
} from '@monitormed/common';

/** Invalid command-line input or catalog; the command prints the message and exits with status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Thrown when registering one model fails; the message names the model and the FHIR server's status. */
export class RegisterFailedError extends Error {
  override name = 'RegisterFailedError';
}

/** Usage text that `--help` prints. */
export const REGISTER_USAGE = `Usage: npm run --silent register -w sdk -- [--catalog models.json] [--model <id> ...]

Registers each model of a catalog on FHIR_BASE_URL: its Device and its model card.
  --catalog FILE   model catalog (JSON array); default MONITORMED_MODELS_FILE or the demo catalog
  --model ID       register only this model; repeat for several; default every model
  --help           print this text

Prints a JSON array: modelId, deviceId, action (created, updated or unchanged), versionId, modelCardId.
Exit status: 0 registered, 2 invalid arguments or catalog, 1 a FHIR request failed.
`;

/** Tells whether the arguments ask for the usage text, which is printed instead of registering. */
export function wantsHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

function selectModels(catalog: AiModelDefinition[], modelIds: string[] | undefined): AiModelDefinition[] {
  if (modelIds === undefined || modelIds.length === 0) {
    return catalog;
  }
  return modelIds.map((modelId) => {
    const model = catalog.find((candidate) => candidate.modelId === modelId);
    if (model === undefined) {
      const known = catalog.map((candidate) => candidate.modelId).join(', ');
      throw new UsageError(`Model '${modelId}' is not in the catalog; known models: ${known}.`);
    }
    return model;
  });
}

/**
 * Registers the selected models one after another.
 * @param args - Arguments after the script name.
 * @param config - FHIR server address.
 * @returns One registration per model, in the order of the arguments or the catalog.
 * @throws UsageError on invalid arguments or catalog; RegisterFailedError when a FHIR request fails.
 */
export async function runRegister(
  args: readonly string[],
  config: Pick<MonitorMedConfig, 'fhirBaseUrl'>
): Promise<ModelRegistration[]> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        catalog: { type: 'string' },
        model: { type: 'string', multiple: true },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}. Run with --help for the options.`);
  }

  let catalog: AiModelDefinition[];
  try {
    // `npm run -w sdk` runs in sdk/, so a relative path is resolved against the caller's directory.
    const path =
      values.catalog === undefined ? undefined : resolve(process.env['INIT_CWD'] ?? '', values.catalog);
    catalog = loadModelCatalog(path);
  } catch (err) {
    if (err instanceof ModelCatalogError) {
      throw new UsageError(err.message);
    }
    throw err;
  }

  const client = createFhirClient(config);
  const registrations: ModelRegistration[] = [];
  for (const model of selectModels(catalog, values.model)) {
    try {
      registrations.push(await registerModel(client, model));
    } catch (err) {
      throw new RegisterFailedError(
        `Registering model ${model.modelId} at ${config.fhirBaseUrl} failed: ${(err as Error).message}`,
        { cause: err }
      );
    }
  }
  return registrations;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  if (wantsHelp(args)) {
    process.stdout.write(REGISTER_USAGE);
  } else {
    try {
      const registrations = await runRegister(args, loadConfig());
      process.stdout.write(`${JSON.stringify(registrations, undefined, 2)}\n`);
    } catch (err) {
      if (!(err instanceof UsageError || err instanceof RegisterFailedError)) {
        throw err;
      }
      process.stderr.write(`register: ${err.message}\n`);
      process.exitCode = err instanceof UsageError ? 2 : 1;
    }
  }
}
