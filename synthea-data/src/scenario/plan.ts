/**
 * Plans every result of a scenario: which patient, when, which score and which transport. Planning is a
 * pure function of the patients and the options, so a seed always gives the same results.
 */
import type { AiModelDefinition } from '@monitormed/common';
import { BASELINE_SCANNER, REPLACEMENT_SCANNER, cxrLogit, type Scanner } from './cxr-model.js';
import { shuffle, streamRng } from './prng.js';
import { sepsisLogit, sigmoid } from './sepsis-model.js';
import type { ScenarioPatient } from './patients.js';

/** Id of the tabular model the simulator scores from vital signs and laboratory results. */
export const SEPSIS_MODEL_ID = 'sepsis-risk';

/** Id of the imaging model the simulator scores on chest X-rays. */
export const CXR_MODEL_ID = 'cxr-pneumothorax';

/** A shift of one model's scores that starts on a given day. */
export interface DriftConfig {
  modelId: string;
  /** First drifted day, counted from 1. */
  startDay: number;
  /** Amount added to the model's log-odds from that day on; 2 turns a 0.08 score into about 0.4. */
  logitShift: number;
}

/** Planning options. */
export interface PlanOptions {
  /** First simulated day, `YYYY-MM-DD` (UTC). */
  startDate: string;
  days: number;
  seed: number;
  /** Minimum number of results per model per day; patients are scored several times a day to reach it. */
  resultsPerModelPerDay: number;
  /** Share of imaging results the vendor writes straight to FHIR instead of sending HL7 v2. */
  fhirDirectShare: number;
  drift: DriftConfig | null;
  /**
   * Suffix of every control id, at most 8 characters; defaults to the seed in base 36. A new tag makes a
   * rerun deliver new results, while the same tag makes it a replay that the listener deduplicates.
   */
  runTag?: string;
}

/** One model result to deliver. */
export interface PlannedResult {
  modelId: string;
  /** Day number, from 1. */
  day: number;
  /** Sequence number within the model and day, from 1. */
  sequence: number;
  patient: ScenarioPatient;
  /** When the model produced the result. */
  time: Date;
  /** Probability from 0 to 1, rounded to 4 decimals as sent in OBX-5. */
  probability: number;
  /** `hl7` for an ORU^R01 over MLLP, `fhir` for a vendor Observation written to the server. */
  transport: 'hl7' | 'fhir';
  /** HL7 MSH-10, also the base of order numbers and identifiers; unique per seed, model, day and sequence. */
  controlId: string;
  /** The scanner of the chest X-ray, for imaging results. */
  scanner?: Scanner;
}

const DAY_MS = 86_400_000;

/**
 * Returns the UTC midnight of a scenario day.
 * @param startDate - First day, `YYYY-MM-DD`.
 * @param day - Day number from 1.
 * @returns The start of that day.
 */
export function dayStart(startDate: string, day: number): Date {
  return new Date(Date.parse(`${startDate}T00:00:00Z`) + (day - 1) * DAY_MS);
}

/**
 * Builds a control id of at most 20 characters (the HL7 v2.5.1 length of MSH-10), such as
 * `C2603060012-1a2b3c`: model letter, `YYMMDD`, 4-digit sequence, then the run tag (by default the
 * seed in base 36).
 */
export function buildControlId(
  model: AiModelDefinition,
  date: Date,
  sequence: number,
  seed: number,
  runTag?: string
): string {
  const letter = (model.match.sendingApplication ?? model.modelId).charAt(0).toUpperCase();
  const yymmdd = date.toISOString().slice(2, 10).replaceAll('-', '');
  return `${letter}${yymmdd}${String(sequence).padStart(4, '0')}-${runTag ?? (seed >>> 0).toString(36)}`;
}

function isDrifted(options: PlanOptions, modelId: string, day: number): boolean {
  return options.drift?.modelId === modelId && day >= options.drift.startDay;
}

function roundProbability(logit: number): number {
  // Four decimals keep the value strictly inside (0, 1) for any logit the simulator draws.
  return Math.min(0.9999, Math.max(0.0001, Math.round(sigmoid(logit) * 10_000) / 10_000));
}

function planSepsisDay(
  model: AiModelDefinition,
  patients: ScenarioPatient[],
  day: number,
  options: PlanOptions
): PlannedResult[] {
  const scoresPerPatient = Math.ceil(options.resultsPerModelPerDay / patients.length);
  const start = dayStart(options.startDate, day).getTime();
  const intervalMs = DAY_MS / scoresPerPatient;
  const shift = isDrifted(options, model.modelId, day) ? (options.drift?.logitShift ?? 0) : 0;

  const results: Omit<PlannedResult, 'sequence' | 'controlId'>[] = [];
  for (const patient of patients) {
    for (let k = 0; k < scoresPerPatient; k++) {
      const rng = streamRng(options.seed, model.modelId, patient.mrn, day, k);
      // Re-scored at even intervals (every 8 hours for 3 scores a day), at a patient-specific minute.
      const offsetMs = rng.int(Math.floor(intervalMs / 60_000)) * 60_000;
      const logit = sepsisLogit(patient.inputs) + 0.6 * rng.normal() + shift;
      results.push({
        modelId: model.modelId,
        day,
        patient,
        time: new Date(start + k * intervalMs + offsetMs),
        probability: roundProbability(logit),
        transport: 'hl7',
      });
    }
  }
  return numberResults(model, results, options.seed, options.runTag);
}

function planCxrDay(
  model: AiModelDefinition,
  patients: ScenarioPatient[],
  day: number,
  options: PlanOptions
): PlannedResult[] {
  const start = dayStart(options.startDate, day).getTime();
  const drifted = isDrifted(options, model.modelId, day);
  const shift = drifted ? (options.drift?.logitShift ?? 0) : 0;
  const scanner = drifted ? REPLACEMENT_SCANNER : BASELINE_SCANNER;

  // A different half of the ward is imaged each day; with few patients some get several studies.
  const order = shuffle(patients, streamRng(options.seed, model.modelId, 'order', day));
  const studies = Math.max(options.resultsPerModelPerDay, Math.ceil(patients.length / 2));
  const results: Omit<PlannedResult, 'sequence' | 'controlId'>[] = [];
  for (let i = 0; i < studies; i++) {
    const patient = order[i % order.length] as ScenarioPatient;
    const rng = streamRng(options.seed, model.modelId, patient.mrn, day, i);
    // Studies are read between 06:00 and 22:00.
    const minute = 360 + rng.int(16 * 60);
    const logit = cxrLogit(rng) + shift;
    results.push({
      modelId: model.modelId,
      day,
      patient,
      time: new Date(start + minute * 60_000 + rng.int(60) * 1000),
      probability: roundProbability(logit),
      transport: rng.next() < options.fhirDirectShare ? 'fhir' : 'hl7',
      scanner,
    });
  }
  return numberResults(model, results, options.seed, options.runTag);
}

function numberResults(
  model: AiModelDefinition,
  results: Omit<PlannedResult, 'sequence' | 'controlId'>[],
  seed: number,
  runTag: string | undefined
): PlannedResult[] {
  results.sort((a, b) => a.time.getTime() - b.time.getTime() || a.patient.mrn.localeCompare(b.patient.mrn));
  return results.map((result, index) => ({
    ...result,
    sequence: index + 1,
    controlId: buildControlId(model, result.time, index + 1, seed, runTag),
  }));
}

/**
 * Plans the results of both demo models over every day, in delivery order (by time).
 * @param models - The catalog entries of `sepsis-risk` and `cxr-pneumothorax`.
 * @param patients - Patients with their sepsis inputs; at least one.
 * @param options - Days, seed, sample size, routing and drift.
 * @returns All results sorted by time.
 */
export function planScenario(
  models: { sepsis: AiModelDefinition; cxr: AiModelDefinition },
  patients: ScenarioPatient[],
  options: PlanOptions
): PlannedResult[] {
  // Random streams and order are keyed by MRN, not by server id, so the same seed and patients give the
  // same results on every FHIR server, whatever ids it assigned when the patients were loaded.
  const byMrn = [...patients].sort((a, b) => a.mrn.localeCompare(b.mrn));
  const all: PlannedResult[] = [];
  for (let day = 1; day <= options.days; day++) {
    all.push(...planSepsisDay(models.sepsis, byMrn, day, options));
    all.push(...planCxrDay(models.cxr, byMrn, day, options));
  }
  return all.sort((a, b) => a.time.getTime() - b.time.getTime() || a.controlId.localeCompare(b.controlId));
}
