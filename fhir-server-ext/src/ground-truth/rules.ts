/**
 * Linking rules per model: which confirming resources give an AI result its ground-truth label, and in
 * which time window around the AI result's effective time. The rules are JSON, by default
 * common/models/ground-truth-rules.json, so that a site adds a model without code.
 */
import { readFileSync } from 'node:fs';
import type { Coding } from '@medplum/fhirtypes';
import { GroundTruthConfigError } from './ground-truth-config-error.js';

/** Hours before and after the AI result's effective time in which evidence counts. */
export interface WindowHours {
  before: number;
  after: number;
}

/** Radiology reports: DiagnosticReports, or Observations whose valueString is report text. */
export interface ReportRule {
  diagnosticReportCodes: Coding[];
  textObservationCodes?: Coding[];
  /** Synonyms of the finding the model detects, for the report-text extractor. */
  targetTerms: string[];
  windowHours: WindowHours;
  /**
   * When true and both the AI result (derivedFrom, partOf) and the report (imagingStudy, basedOn,
   * identifier) name an ImagingStudy or accession, they must name the same one.
   */
  requireSameStudy: boolean;
}

/** A confirmatory lab: positive when the value is above `above` or coded as one of `positiveCodes`. */
export interface LabRule {
  code: Coding;
  /** Accepted UCUM codes or unit strings of valueQuantity; any unit when absent. */
  units?: string[];
  above?: number;
  positiveCodes?: Coding[];
  windowHours: WindowHours;
}

/** Diagnoses: a Condition with one of the codes and an onset in the window. */
export interface DiagnosisRule {
  codes: Coding[];
  windowHours: WindowHours;
}

/**
 * Label policy when no evidence arrived by the horizon. `never` keeps the label unknown, `always` makes
 * it negative, and `after-discharge` makes it negative only when an Encounter of the patient finished.
 */
export type HorizonPolicy = 'never' | 'always' | 'after-discharge';

/** The ground-truth rules of one model. */
export interface GroundTruthRule {
  modelId: string;
  horizonHours: number;
  negativeAtHorizon: HorizonPolicy;
  reports?: ReportRule;
  labs?: LabRule[];
  diagnoses?: DiagnosisRule;
}

const DEFAULT_RULES_URL = new URL('../../../common/models/ground-truth-rules.json', import.meta.url);

function fail(source: string, message: string): never {
  throw new GroundTruthConfigError(`Invalid ground-truth rules in ${source}: ${message}`);
}

function checkWindow(source: string, where: string, window: unknown): void {
  const w = window as Partial<WindowHours> | undefined;
  if (typeof w?.before !== 'number' || typeof w.after !== 'number' || w.before < 0 || w.after < 0) {
    fail(source, `${where}.windowHours needs non-negative numbers "before" and "after".`);
  }
}

function checkCodings(source: string, where: string, codings: unknown): void {
  if (!Array.isArray(codings) || codings.length === 0) {
    fail(source, `${where} must be a non-empty array of codings.`);
  }
  for (const coding of codings as Partial<Coding>[]) {
    if (typeof coding.system !== 'string' || typeof coding.code !== 'string') {
      fail(source, `${where} contains a coding without "system" and "code".`);
    }
  }
}

function checkRule(source: string, rule: Partial<GroundTruthRule>, index: number): void {
  const where = `rule ${index}`;
  if (typeof rule.modelId !== 'string' || rule.modelId === '') {
    fail(source, `${where} has no "modelId".`);
  }
  if (typeof rule.horizonHours !== 'number' || rule.horizonHours <= 0) {
    fail(source, `${where} ("${rule.modelId}") needs a positive "horizonHours".`);
  }
  if (!['never', 'always', 'after-discharge'].includes(rule.negativeAtHorizon ?? '')) {
    fail(
      source,
      `${where} ("${rule.modelId}") has "negativeAtHorizon" not in never, always, after-discharge.`
    );
  }

  if (rule.reports !== undefined) {
    checkCodings(source, `${where}.reports.diagnosticReportCodes`, rule.reports.diagnosticReportCodes);
    if (!Array.isArray(rule.reports.targetTerms) || rule.reports.targetTerms.length === 0) {
      fail(source, `${where}.reports.targetTerms must list at least one term.`);
    }
    checkWindow(source, `${where}.reports`, rule.reports.windowHours);
  }
  for (const [labIndex, lab] of (rule.labs ?? []).entries()) {
    checkCodings(source, `${where}.labs[${labIndex}].code`, [lab.code]);
    if (lab.above === undefined && lab.positiveCodes === undefined) {
      fail(source, `${where}.labs[${labIndex}] needs "above" or "positiveCodes".`);
    }
    checkWindow(source, `${where}.labs[${labIndex}]`, lab.windowHours);
  }
  if (rule.diagnoses !== undefined) {
    checkCodings(source, `${where}.diagnoses.codes`, rule.diagnoses.codes);
    checkWindow(source, `${where}.diagnoses`, rule.diagnoses.windowHours);
  }
}

/**
 * Reads the ground-truth rules from `path`, by default `MONITORMED_GROUND_TRUTH_FILE` or the demo rules.
 * @param path - Path of a JSON array of {@link GroundTruthRule}.
 * @returns The rules.
 * @throws GroundTruthConfigError when the file is missing, not JSON, or a rule is incomplete.
 */
export function loadGroundTruthRules(path?: string): GroundTruthRule[] {
  const source = path ?? process.env['MONITORMED_GROUND_TRUTH_FILE'] ?? DEFAULT_RULES_URL;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(source, 'utf8'));
  } catch (err) {
    throw new GroundTruthConfigError(
      `Cannot read ground-truth rules ${String(source)}: ${(err as Error).message}. ` +
        'Set MONITORMED_GROUND_TRUTH_FILE to a JSON array of rules.'
    );
  }

  if (!Array.isArray(parsed)) {
    fail(String(source), 'expected a JSON array of rules.');
  }
  for (const [index, rule] of parsed.entries()) {
    checkRule(String(source), rule as Partial<GroundTruthRule>, index);
  }
  return parsed as GroundTruthRule[];
}

/**
 * Tells whether a CodeableConcept carries one of the codings (same system and code).
 * @param concept - A CodeableConcept, possibly absent.
 * @param codings - Codings to look for.
 */
export function hasCoding(concept: { coding?: Coding[] } | undefined, codings: readonly Coding[]): boolean {
  return (concept?.coding ?? []).some((c) => codings.some((w) => w.system === c.system && w.code === c.code));
}

/**
 * Formats codings as a token search value, `system|code` joined by commas (FHIR R4 search: OR).
 * @param codings - The codings.
 */
export function tokenSearch(codings: readonly Coding[]): string {
  return codings.map((c) => `${c.system ?? ''}|${c.code ?? ''}`).join(',');
}
