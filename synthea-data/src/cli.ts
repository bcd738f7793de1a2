/**
 * Command line of @monitormed/synthea-data.
 *
 *   npx tsx synthea-data/src/cli.ts load <folder> [--limit N] [--timeout-ms MS]
 *   npx tsx synthea-data/src/cli.ts generate --population N --seed S --out DIR [--reference-date YYYYMMDD] [--state NAME]
 *   npx tsx synthea-data/src/cli.ts scenario [--days N] [--drift-day D] [--drift-model ID] [--drift-shift X] [--no-drift] ...
 *   npx tsx synthea-data/src/cli.ts send <file>... [--patient ID] [--ack-timeout-ms MS]
 *
 * Servers come from the usual environment variables (FHIR_BASE_URL, MLLP_HOST, MLLP_PORT).
 */
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { loadConfig } from '@monitormed/common';
import { CliUsageError } from './cli-error.js';
import { generatePopulation } from './generate.js';
import { loadBundles, type LoadProgress } from './load.js';
import { runScenario, type ScenarioOptions } from './scenario/run.js';
import { sendMessageFiles } from './send.js';

const USAGE = `Usage: npx tsx synthea-data/src/cli.ts <command> [options]

Commands:
  load <folder>          Load Synthea FHIR R4 transaction bundles into the FHIR server (safe to re-run).
    --limit N            Load at most N patient bundles (hospital and practitioner bundles always load).
    --timeout-ms MS      Time allowed for one bundle's transaction (default 600000).

  generate               Generate a seeded population with Synthea from Maven Central.
    --population N       Number of living patients (required).
    --seed S             Population and clinician seed (required).
    --out DIR            Output folder; bundles land in DIR/fhir (required).
    --reference-date D   End of the simulated histories, YYYYMMDD (default 20260301).
    --state NAME         US state of the population (default Massachusetts).

  scenario               Send simulated results of the two demo models for the loaded patients.
    --days N             Number of simulated days (default 10).
    --start-date D       First day, YYYY-MM-DD in UTC (default 2026-03-02).
    --seed S             Seed of every random choice (default 42).
    --drift-day D        First drifted day, from 1 (default 6).
    --drift-model ID     Model that drifts: cxr-pneumothorax (default) or sepsis-risk.
    --drift-shift X      Log-odds added to the drifted model's scores (default 2).
    --no-drift           Simulate no drift at all.
    --per-day N          Minimum results per model per day (default 40).
    --fhir-share F       Share of imaging results written straight to FHIR, 0 to 1 (default 0.25).
    --patients IDS       Comma-separated Patient ids to simulate instead of all patients with an MRN.
    --patient-limit N    Maximum number of patients (default 100).

  send <file>...         Send HL7 v2 message files to the MLLP listener and print each ACK code.
    --patient ID         Fills {{PATIENT_ID}} in the files; each send gets a fresh {{CONTROL_ID}}.
    --ack-timeout-ms MS  Time allowed for each ACK (default 30000).

Environment: FHIR_BASE_URL, MLLP_HOST, MLLP_PORT (see @monitormed/common loadConfig).`;

function parseNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) {
    throw new CliUsageError(`Invalid --${name} "${value}": expected a number.`);
  }
  return parsed;
}

function requireValue(name: string, value: string | undefined): string {
  if (value === undefined) {
    throw new CliUsageError(`Missing --${name}. Run with --help for the options.`);
  }
  return value;
}

function createProgressDisplay(label: string): {
  update: (done: number, total: number, note: string) => void;
  stop: () => void;
} {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {value}/{total} {note}`, stream: process.stderr, hideCursor: true },
      cliProgress.Presets.shades_classic
    );
    let started = false;
    return {
      update: (done, total, note) => {
        if (!started) {
          bar.start(total, 0, { note: '' });
          started = true;
        }
        bar.update(done, { note });
      },
      stop: () => {
        bar.stop();
      },
    };
  }

  // Without a terminal a redrawn bar would fill a log file, so a line is printed every 10% instead.
  let lastDecile = -1;
  return {
    update: (done, total, note) => {
      const decile = Math.floor((done / total) * 10);
      if (decile !== lastDecile || done === total) {
        lastDecile = decile;
        process.stderr.write(`${label} ${String(done)}/${String(total)} ${note}\n`);
      }
    },
    stop: () => undefined,
  };
}

async function runLoad(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { limit: { type: 'string' }, 'timeout-ms': { type: 'string' } },
  });
  const folder = positionals[0];
  if (folder === undefined) {
    throw new CliUsageError('Missing <folder>: give the folder of Synthea bundles, such as output/fhir.');
  }
  const limit = parseNumber('limit', values.limit);
  const timeoutMs = parseNumber('timeout-ms', values['timeout-ms']);

  const progress = createProgressDisplay('load');
  const summary = await loadBundles({
    folder,
    ...(limit === undefined ? {} : { limit }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    onProgress: (p: LoadProgress) => {
      progress.update(
        p.done,
        p.bundles,
        `created ${String(p.created)}, existing ${String(p.existing)}, failed ${String(p.failures.length)}`
      );
    },
  }).finally(progress.stop);

  console.log(
    `Bundles: ${String(summary.bundles)} (${String(summary.bundlesLoaded)} loaded, ${String(summary.failures.length)} failed)\n` +
      `Resources: ${String(summary.created)} created, ${String(summary.existing)} existing, ${String(summary.failedEntries)} failed entries\n` +
      `Time: ${(summary.durationMs / 1000).toFixed(1)} s`
  );
  for (const failure of summary.failures) {
    const status = failure.status === 0 ? '' : ` (HTTP ${String(failure.status)})`;
    console.log(`FAILED ${failure.file}${status}: ${failure.message}`);
  }
  return summary.failures.length === 0 ? 0 : 1;
}

async function runGenerate(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      population: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      'reference-date': { type: 'string' },
      state: { type: 'string' },
    },
  });
  const result = await generatePopulation({
    population: parseNumber('population', requireValue('population', values.population)) ?? 0,
    seed: parseNumber('seed', requireValue('seed', values.seed)) ?? 0,
    outDir: requireValue('out', values.out),
    ...(values['reference-date'] === undefined ? {} : { referenceDate: values['reference-date'] }),
    ...(values.state === undefined ? {} : { state: values.state }),
  });
  console.log(
    `Synthea ${result.syntheaVersion} wrote ${String(result.bundleFiles)} bundles to ${result.fhirDir} in ${(result.durationMs / 1000).toFixed(1)} s.\n` +
      `Load them with: npx tsx synthea-data/src/cli.ts load ${result.fhirDir}`
  );
  return 0;
}

async function runScenarioCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      days: { type: 'string' },
      'start-date': { type: 'string' },
      seed: { type: 'string' },
      'drift-day': { type: 'string' },
      'drift-model': { type: 'string' },
      'drift-shift': { type: 'string' },
      'no-drift': { type: 'boolean' },
      'per-day': { type: 'string' },
      'fhir-share': { type: 'string' },
      patients: { type: 'string' },
      'patient-limit': { type: 'string' },
    },
  });

  const drift: NonNullable<ScenarioOptions['drift']> = {};
  const driftDay = parseNumber('drift-day', values['drift-day']);
  const driftShift = parseNumber('drift-shift', values['drift-shift']);
  if (driftDay !== undefined) drift.startDay = driftDay;
  if (driftShift !== undefined) drift.logitShift = driftShift;
  if (values['drift-model'] !== undefined) drift.modelId = values['drift-model'];

  const options: ScenarioOptions = { drift: values['no-drift'] === true ? null : drift };
  const days = parseNumber('days', values.days);
  const seed = parseNumber('seed', values.seed);
  const perDay = parseNumber('per-day', values['per-day']);
  const share = parseNumber('fhir-share', values['fhir-share']);
  const patientLimit = parseNumber('patient-limit', values['patient-limit']);
  if (days !== undefined) options.days = days;
  if (seed !== undefined) options.seed = seed;
  if (perDay !== undefined) options.resultsPerModelPerDay = perDay;
  if (share !== undefined) options.fhirDirectShare = share;
  if (patientLimit !== undefined) options.patientLimit = patientLimit;
  if (values['start-date'] !== undefined) options.startDate = values['start-date'];
  if (values.patients !== undefined)
    options.patientIds = values.patients.split(',').filter((id) => id !== '');

  const progress = createProgressDisplay('scenario');
  options.onProgress = (done, total) => {
    progress.update(done, total, '');
  };
  const summary = await runScenario(options).finally(progress.stop);
  console.log(JSON.stringify(summary, null, 2));
  return summary.acks.AE + summary.acks.AR === 0 ? 0 : 1;
}

async function runSend(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { patient: { type: 'string' }, 'ack-timeout-ms': { type: 'string' } },
  });
  if (positionals.length === 0) {
    throw new CliUsageError('Missing message file: name one or more HL7 v2 files to send.');
  }
  const config = loadConfig();
  const sent = await sendMessageFiles(positionals, {
    host: config.mllpHost,
    port: config.mllpPort,
    patientId: values.patient,
    ackTimeoutMs: parseNumber('ack-timeout-ms', values['ack-timeout-ms']) ?? 30_000,
  });
  for (const result of sent) {
    console.log(`${result.file}: ${result.code} (MSH-10 ${result.controlId})`);
    for (const err of result.errors) {
      console.log(`  ${err}`);
    }
  }
  return sent.every((result) => result.code === 'AA' || result.code === 'CA') ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || rest.includes('--help')) {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  switch (command) {
    case 'load':
      return runLoad(rest);
    case 'generate':
      return runGenerate(rest);
    case 'scenario':
      return runScenarioCommand(rest);
    case 'send':
      return runSend(rest);
    default:
      throw new CliUsageError(`Unknown command "${command}": expected load, generate, scenario or send.`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    // parseArgs rejects unknown options and missing values with codes ERR_PARSE_ARGS_*.
    const usage =
      err instanceof CliUsageError || String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
    console.error(usage ? `${message}\n\n${USAGE}` : `Error: ${message}`);
    process.exitCode = usage ? 2 : 1;
  }
);
