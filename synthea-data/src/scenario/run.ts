/**
 * Runs a scenario: reads the patients from FHIR, plans the results of both demo models over the
 * simulated days, and delivers them (HL7 v2 ORU^R01 over MLLP, or vendor Observations over FHIR).
 */
import {
  createLogger,
  loadConfig,
  loadModelCatalog,
  type AiModelDefinition,
  type MonitorMedConfig,
} from '@monitormed/common';
import { BASELINE_SCANNER, REPLACEMENT_SCANNER } from './cxr-model.js';
import {
  createImagingStudy,
  buildVendorObservation,
  registerModelDevice,
  registerScanner,
  writeVendorObservation,
} from './fhir-writes.js';
import { MllpClient, type AckCounts } from './mllp-client.js';
import { buildOruR01 } from './oru.js';
import { findPatients, readInputs } from './patients.js';
import {
  CXR_MODEL_ID,
  SEPSIS_MODEL_ID,
  dayStart,
  planScenario,
  type DriftConfig,
  type PlanOptions,
} from './plan.js';
import { ScenarioError } from './scenario-error.js';
import { SEPSIS_INPUTS, type SepsisInputName } from './sepsis-model.js';

const log = createLogger('synthea-data-scenario');

/** Default drift: a scanner change for the imaging model on day 6. */
export const DEFAULT_DRIFT: DriftConfig = { modelId: CXR_MODEL_ID, startDay: 6, logitShift: 2 };

/** Options of {@link runScenario}; every field has a default. */
export interface ScenarioOptions {
  /** Number of simulated days (default 10). */
  days?: number;
  /** First simulated day, `YYYY-MM-DD` in UTC (default 2026-03-02, the day after the Synthea reference date). */
  startDate?: string;
  /** Seed of every random choice (default 42). */
  seed?: number;
  /** Drift of one model, or null for none (default {@link DEFAULT_DRIFT}); missing fields take the default's. */
  drift?: Partial<DriftConfig> | null;
  /** Minimum results per model per day (default 40, enough for a KS test at p < 0.01 to see the default drift). */
  resultsPerModelPerDay?: number;
  /** Share of imaging results written straight to FHIR by the vendor instead of sent over HL7 v2 (default 0.25). */
  fhirDirectShare?: number;
  /** Suffix of the control ids, 1 to 8 letters or digits (default: the seed in base 36); see PlanOptions. */
  runTag?: string;
  /** Simulate exactly these Patient ids instead of every Patient with a hospital MRN. */
  patientIds?: string[];
  /** Maximum number of patients (default 100). */
  patientLimit?: number;
  /** Server addresses; defaults from `loadConfig()`. */
  config?: Partial<Pick<MonitorMedConfig, 'fhirBaseUrl' | 'mllpHost' | 'mllpPort'>>;
  /** Time to wait for each HL7 ACK (default 30 s). */
  ackTimeoutMs?: number;
  /** Timeout of each FHIR request (default 60 s). */
  requestTimeoutMs?: number;
  /** Called after each delivered result. */
  onProgress?: (done: number, total: number) => void;
}

/** Results of one model. */
export interface ModelResultCounts {
  total: number;
  /** Sent as ORU^R01 over MLLP. */
  hl7: number;
  /** Written by the vendor as FHIR Observations. */
  fhir: number;
}

/** Delivery counts of a scenario run. */
export interface ScenarioSummary {
  dayRange: { first: string; last: string; days: number };
  seed: number;
  drift: DriftConfig | null;
  patients: number;
  /** How many patients fell back to the population default, per sepsis input. */
  missingInputs: Record<SepsisInputName, number>;
  results: Record<string, ModelResultCounts>;
  messagesSent: number;
  acks: AckCounts;
  /** Vendor Observations written to FHIR (each with its Provenance). */
  fhirWrites: number;
  imagingStudies: number;
  durationMs: number;
}

function requireModel(models: AiModelDefinition[], modelId: string): AiModelDefinition {
  const model = models.find((m) => m.modelId === modelId);
  if (model === undefined) {
    throw new ScenarioError(
      `Model "${modelId}" is missing from the model catalog; the scenario simulates it.`
    );
  }
  return model;
}

function resolveDrift(drift: Partial<DriftConfig> | null | undefined, days: number): DriftConfig | null {
  if (drift === null) {
    return null;
  }
  const resolved = { ...DEFAULT_DRIFT, ...drift };
  if (![SEPSIS_MODEL_ID, CXR_MODEL_ID].includes(resolved.modelId)) {
    throw new ScenarioError(
      `Invalid drift model "${resolved.modelId}": expected ${SEPSIS_MODEL_ID} or ${CXR_MODEL_ID}.`
    );
  }
  if (!Number.isInteger(resolved.startDay) || resolved.startDay < 1 || resolved.startDay > days) {
    throw new ScenarioError(
      `Invalid drift day ${String(resolved.startDay)}: expected a whole number from 1 to ${String(days)}.`
    );
  }
  if (!Number.isFinite(resolved.logitShift)) {
    throw new ScenarioError(
      `Invalid drift shift ${String(resolved.logitShift)}: expected a number of log-odds.`
    );
  }
  return resolved;
}

/**
 * Checks the options and fills in the defaults.
 * @throws ScenarioError naming the invalid option.
 */
export function resolvePlanOptions(options: ScenarioOptions): PlanOptions {
  const days = options.days ?? 10;
  if (!Number.isInteger(days) || days < 1 || days > 365) {
    throw new ScenarioError(`Invalid days ${String(days)}: expected a whole number from 1 to 365.`);
  }

  const startDate = options.startDate ?? '2026-03-02';
  // The round trip rejects dates such as 2026-02-30, which Date.parse rolls over into March.
  const parsedStart = Date.parse(`${startDate}T00:00:00Z`);
  if (Number.isNaN(parsedStart) || new Date(parsedStart).toISOString().slice(0, 10) !== startDate) {
    throw new ScenarioError(`Invalid start date "${startDate}": expected a calendar date as YYYY-MM-DD.`);
  }

  const seed = options.seed ?? 42;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new ScenarioError(`Invalid seed ${String(seed)}: expected a whole number from 0 to 4294967295.`);
  }

  const resultsPerModelPerDay = options.resultsPerModelPerDay ?? 40;
  // The control id has four digits for the sequence within a day.
  if (!Number.isInteger(resultsPerModelPerDay) || resultsPerModelPerDay < 1 || resultsPerModelPerDay > 9999) {
    throw new ScenarioError(`Invalid results per day ${String(resultsPerModelPerDay)}: expected 1 to 9999.`);
  }

  const fhirDirectShare = options.fhirDirectShare ?? 0.25;
  if (!(fhirDirectShare >= 0 && fhirDirectShare <= 1)) {
    throw new ScenarioError(
      `Invalid FHIR-direct share ${String(fhirDirectShare)}: expected a number from 0 to 1.`
    );
  }

  const runTag = options.runTag;
  if (runTag !== undefined && !/^[A-Za-z0-9]{1,8}$/.test(runTag)) {
    throw new ScenarioError(`Invalid run tag "${runTag}": expected 1 to 8 letters or digits.`);
  }

  return {
    days,
    startDate,
    seed,
    resultsPerModelPerDay,
    fhirDirectShare,
    drift: resolveDrift(options.drift, days),
    ...(runTag === undefined ? {} : { runTag }),
  };
}

/**
 * Simulates both demo models over the given days for the patients on the FHIR server and delivers
 * every result. Each imaging result gets an ImagingStudy first. A share of the imaging results is
 * written by the "vendor" as FHIR Observations. The other imaging results and all sepsis results go
 * out as ORU^R01 over MLLP.
 * @param options - Days, seed, drift, sample size, routing, patients and servers.
 * @returns Counts of results, messages, ACK codes and FHIR writes.
 * @throws ScenarioError for invalid options or no patients; FhirHttpError or MllpError when a server fails.
 */
export async function runScenario(options: ScenarioOptions = {}): Promise<ScenarioSummary> {
  const startedAt = Date.now();
  const plan = resolvePlanOptions(options);
  const config = { ...loadConfig(), ...options.config };
  const baseUrl = config.fhirBaseUrl;
  const timeoutMs = options.requestTimeoutMs ?? 60_000;

  const catalog = loadModelCatalog();
  const sepsis = requireModel(catalog, SEPSIS_MODEL_ID);
  const cxr = requireModel(catalog, CXR_MODEL_ID);

  // Each patient gets at least one result per model and day, and the control id has four digits for
  // the sequence within a day.
  const patientLimit = options.patientLimit ?? 100;
  if (!Number.isInteger(patientLimit) || patientLimit < 1 || patientLimit > 9999) {
    throw new ScenarioError(`Invalid patient limit ${String(patientLimit)}: expected 1 to 9999.`);
  }

  const patients = await findPatients(baseUrl, {
    ...(options.patientIds === undefined ? {} : { patientIds: options.patientIds }),
    limit: patientLimit,
    timeoutMs,
  });
  if (patients.length === 0) {
    throw new ScenarioError(
      `No patients with an identifier in http://hospital.smarthealthit.org found at ${baseUrl}; load Synthea bundles first (cli.ts load <folder>).`
    );
  }
  const missingInputs = Object.fromEntries(SEPSIS_INPUTS.map((i) => [i.name, 0])) as Record<
    SepsisInputName,
    number
  >;
  for (const patient of patients) {
    await readInputs(baseUrl, patient, timeoutMs);
    for (const name of patient.missingInputs) {
      missingInputs[name]++;
    }
  }
  log.info({ patients: patients.length, missingInputs }, 'Read patients and sepsis inputs');

  const results = planScenario({ sepsis, cxr }, patients, plan);
  const deviceIds = new Map<string, string>([
    [sepsis.modelId, await registerModelDevice(baseUrl, sepsis, timeoutMs)],
    [cxr.modelId, await registerModelDevice(baseUrl, cxr, timeoutMs)],
  ]);
  const scannerIds = new Map<string, string>([
    [BASELINE_SCANNER.id, await registerScanner(baseUrl, BASELINE_SCANNER, timeoutMs)],
    [REPLACEMENT_SCANNER.id, await registerScanner(baseUrl, REPLACEMENT_SCANNER, timeoutMs)],
  ]);

  const summary: ScenarioSummary = {
    dayRange: {
      first: plan.startDate,
      last: dayStart(plan.startDate, plan.days).toISOString().slice(0, 10),
      days: plan.days,
    },
    seed: plan.seed,
    drift: plan.drift,
    patients: patients.length,
    missingInputs,
    results: {
      [sepsis.modelId]: { total: 0, hl7: 0, fhir: 0 },
      [cxr.modelId]: { total: 0, hl7: 0, fhir: 0 },
    },
    messagesSent: 0,
    acks: { AA: 0, AE: 0, AR: 0 },
    fhirWrites: 0,
    imagingStudies: 0,
    durationMs: 0,
  };

  const mllp = new MllpClient({
    host: config.mllpHost,
    port: config.mllpPort,
    ...(options.ackTimeoutMs === undefined ? {} : { ackTimeoutMs: options.ackTimeoutMs }),
  });
  try {
    for (const [index, result] of results.entries()) {
      const model = result.modelId === sepsis.modelId ? sepsis : cxr;
      const modelDeviceId = deviceIds.get(model.modelId) ?? '';

      let study: { id: string; accession: string } | undefined;
      if (result.scanner !== undefined) {
        study = await createImagingStudy(baseUrl, result, scannerIds.get(result.scanner.id) ?? '', timeoutMs);
        summary.imagingStudies++;
      }

      if (result.transport === 'fhir') {
        const observation = buildVendorObservation(model, result, modelDeviceId, study?.id);
        await writeVendorObservation(baseUrl, observation, modelDeviceId, timeoutMs);
        summary.fhirWrites++;
      } else {
        await mllp.send(buildOruR01(model, result, study?.accession));
        summary.messagesSent++;
      }

      const counts = summary.results[model.modelId];
      if (counts !== undefined) {
        counts.total++;
        counts[result.transport]++;
      }
      options.onProgress?.(index + 1, results.length);
    }
  } catch (err) {
    // The caller gets the error without the summary, so the log keeps how far the run got.
    log.error(
      {
        err,
        messagesSent: summary.messagesSent,
        fhirWrites: summary.fhirWrites,
        acks: mllp.counts,
        total: results.length,
      },
      'Scenario stopped'
    );
    throw err;
  } finally {
    summary.acks = { ...mllp.counts };
    await mllp.close();
  }

  summary.durationMs = Date.now() - startedAt;
  log.info(
    { messagesSent: summary.messagesSent, acks: summary.acks, fhirWrites: summary.fhirWrites },
    'Scenario finished'
  );
  return summary;
}
