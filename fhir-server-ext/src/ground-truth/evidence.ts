/**
 * Reads the facts the linker needs from FHIR resources: the AI result (model, patient, time, score,
 * imaging study) and the label a confirming resource supports for one model's rule.
 */
import type { Condition, DiagnosticReport, Identifier, Observation, Reference } from '@medplum/fhirtypes';
import { hasAiLabel, type AiModelDefinition, type LabelEvidence } from '@monitormed/common';
import { extractReportLabel, type ReportTextPart } from './extractor.js';
import { LinkingError } from './linking-error.js';
import { hasCoding, type GroundTruthRule, type WindowHours } from './rules.js';

/** A confirming resource the linker accepts. */
export type ConfirmingResource = DiagnosticReport | Observation | Condition;

/** The facts of one AI result. */
export interface AiResultFacts {
  id: string;
  versionId: string;
  model: AiModelDefinition;
  patient: string;
  effective: Date;
  score: number;
  /** ImagingStudy references and accession numbers the result names. */
  studyKeys: string[];
}

/** A confirming resource read for one rule: evidence, or `retract` when it no longer supports a label. */
export type EvidenceOutcome =
  | { kind: 'evidence'; patient: string; evidence: LabelEvidence; window: WindowHours; studyKeys: string[] }
  | { kind: 'retract'; patient: string; source: string; versionId: string };

const FINAL_STATUSES = new Set(['final', 'amended', 'corrected']);
const HOUR_MS = 3_600_000;

/** Accession numbers are identifiers typed ACSN in the v2-0203 identifier types. */
function accessionKeys(identifiers: readonly Identifier[] | undefined): string[] {
  return (identifiers ?? [])
    .filter((identifier) => identifier.type?.coding?.some((c) => c.code === 'ACSN') === true)
    .map((identifier) => `accession:${identifier.system ?? ''}|${identifier.value ?? ''}`);
}

function studyReferenceKeys(references: readonly Reference[] | undefined): string[] {
  return (references ?? [])
    .map((reference) => reference.reference ?? '')
    .filter((reference) => reference.startsWith('ImagingStudy/'))
    .map((reference) => reference.split('/_history/')[0] ?? reference);
}

/**
 * Reads an AIAST-labelled Observation as an AI result of one of the models.
 * @param observation - The AI result.
 * @param models - The model catalog; the model is found by Observation.code.
 * @returns The facts, or undefined when no model produces this code.
 * @throws LinkingError when the result has no id, version, patient, time or probability.
 */
export function readAiResult(
  observation: Observation,
  models: readonly AiModelDefinition[]
): AiResultFacts | undefined {
  const model = models.find((m) => hasCoding(observation.code, [m.outputCode]));
  if (model === undefined) {
    return undefined;
  }

  const where = `Observation/${observation.id ?? '(no id)'}`;
  const patient = observation.subject?.reference;
  const effective = observation.effectiveDateTime;
  const score = observation.valueQuantity?.value;
  if (observation.id === undefined || observation.meta?.versionId === undefined) {
    throw new LinkingError(`${where} has no id or meta.versionId.`);
  }
  if (patient?.startsWith('Patient/') !== true) {
    throw new LinkingError(`${where} has no subject Patient reference.`);
  }
  if (effective === undefined || Number.isNaN(Date.parse(effective))) {
    throw new LinkingError(`${where} has no valid effectiveDateTime.`);
  }
  if (score === undefined || score < 0 || score > 1) {
    throw new LinkingError(`${where} has no probability from 0 to 1 in valueQuantity.value.`);
  }

  return {
    id: observation.id,
    versionId: observation.meta.versionId,
    model,
    patient,
    effective: new Date(effective),
    score,
    studyKeys: [...studyReferenceKeys(observation.derivedFrom), ...studyReferenceKeys(observation.partOf)],
  };
}

/** Text parts of a report: conclusion as impression, text/plain attachments, and valueString. */
function reportTextParts(resource: DiagnosticReport | Observation): ReportTextPart[] {
  if (resource.resourceType === 'Observation') {
    return resource.valueString === undefined
      ? []
      : [{ field: 'valueString', text: resource.valueString, defaultSection: 'findings' }];
  }

  const parts: ReportTextPart[] = [];
  for (const [index, attachment] of (resource.presentedForm ?? []).entries()) {
    if (attachment.data !== undefined && (attachment.contentType ?? '').startsWith('text/plain')) {
      const text = Buffer.from(attachment.data, 'base64').toString('utf8');
      parts.push({ field: `presentedForm[${index}]`, text, defaultSection: 'findings' });
    }
  }
  if (resource.conclusion !== undefined) {
    parts.push({ field: 'conclusion', text: resource.conclusion, defaultSection: 'impression' });
  }
  return parts;
}

function timeOf(value: string | undefined): Date | undefined {
  return value === undefined || Number.isNaN(Date.parse(value)) ? undefined : new Date(value);
}

function base(
  resource: ConfirmingResource
): { source: string; versionId: string; patient: string } | undefined {
  const patient = resource.subject?.reference;
  if (
    resource.id === undefined ||
    resource.meta?.versionId === undefined ||
    patient?.startsWith('Patient/') !== true
  ) {
    return undefined;
  }
  return { source: `${resource.resourceType}/${resource.id}`, versionId: resource.meta.versionId, patient };
}

function reportOutcome(
  resource: DiagnosticReport | Observation,
  rule: GroundTruthRule
): EvidenceOutcome | undefined {
  const reports = rule.reports;
  const facts = base(resource);
  if (reports === undefined || facts === undefined) {
    return undefined;
  }
  const codes =
    resource.resourceType === 'DiagnosticReport'
      ? reports.diagnosticReportCodes
      : (reports.textObservationCodes ?? []);
  if (!hasCoding(resource.code, codes)) {
    return undefined;
  }

  const evidenceTime = timeOf(
    resource.effectiveDateTime ?? resource.effectivePeriod?.start ?? resource.issued
  );
  const result = extractReportLabel(reportTextParts(resource), reports.targetTerms);
  if (!FINAL_STATUSES.has(resource.status) || evidenceTime === undefined || result.label === 'none') {
    return { kind: 'retract', patient: facts.patient, source: facts.source, versionId: facts.versionId };
  }

  const decisive = result.decisive;
  const studyKeys =
    resource.resourceType === 'DiagnosticReport'
      ? [
          ...studyReferenceKeys(resource.imagingStudy),
          ...accessionKeys(resource.identifier),
          ...accessionKeys(
            (resource.basedOn ?? []).flatMap((ref) => (ref.identifier === undefined ? [] : [ref.identifier]))
          ),
        ]
      : studyReferenceKeys(resource.partOf);
  return {
    kind: 'evidence',
    patient: facts.patient,
    window: reports.windowHours,
    studyKeys,
    evidence: {
      source: facts.source,
      versionId: facts.versionId,
      label: result.label,
      method: 'rule',
      rule: decisive?.rule ?? 'affirmed',
      ...(decisive?.trigger === undefined ? {} : { trigger: decisive.trigger }),
      ...(decisive === undefined
        ? {}
        : { span: { field: decisive.field, start: decisive.start, end: decisive.end } }),
      evidenceTime,
    },
  };
}

function labOutcome(resource: Observation, rule: GroundTruthRule): EvidenceOutcome | undefined {
  const facts = base(resource);
  const lab = (rule.labs ?? []).find((l) => hasCoding(resource.code, [l.code]));
  if (lab === undefined || facts === undefined) {
    return undefined;
  }

  const quantity = resource.valueQuantity;
  const unitOk = lab.units === undefined || lab.units.includes(quantity?.code ?? quantity?.unit ?? '');
  const above =
    lab.above !== undefined && quantity?.value !== undefined && unitOk && quantity.value > lab.above;
  const coded =
    lab.positiveCodes !== undefined && hasCoding(resource.valueCodeableConcept, lab.positiveCodes);
  const evidenceTime = timeOf(
    resource.effectiveDateTime ?? resource.effectivePeriod?.start ?? resource.issued
  );

  // A lab below its threshold is no evidence either way: a normal lactate does not rule sepsis out.
  if (!FINAL_STATUSES.has(resource.status) || evidenceTime === undefined || (!above && !coded)) {
    return { kind: 'retract', patient: facts.patient, source: facts.source, versionId: facts.versionId };
  }
  return {
    kind: 'evidence',
    patient: facts.patient,
    window: lab.windowHours,
    studyKeys: [],
    evidence: {
      source: facts.source,
      versionId: facts.versionId,
      label: 'positive',
      method: 'lab',
      rule: above ? 'lab-above-threshold' : 'lab-positive-code',
      trigger: `${lab.code.system ?? ''}|${lab.code.code ?? ''}`,
      evidenceTime,
    },
  };
}

function diagnosisOutcome(resource: Condition, rule: GroundTruthRule): EvidenceOutcome | undefined {
  const facts = base(resource);
  const diagnoses = rule.diagnoses;
  if (diagnoses === undefined || facts === undefined || !hasCoding(resource.code, diagnoses.codes)) {
    return undefined;
  }

  const verification = resource.verificationStatus?.coding?.[0]?.code;
  const evidenceTime = timeOf(resource.onsetDateTime ?? resource.onsetPeriod?.start ?? resource.recordedDate);
  if (verification === 'entered-in-error' || evidenceTime === undefined) {
    return { kind: 'retract', patient: facts.patient, source: facts.source, versionId: facts.versionId };
  }

  // A refuted diagnosis is a clinician's statement that the condition is absent.
  const refuted = verification === 'refuted';
  return {
    kind: 'evidence',
    patient: facts.patient,
    window: diagnoses.windowHours,
    studyKeys: [],
    evidence: {
      source: facts.source,
      versionId: facts.versionId,
      label: refuted ? 'negative' : 'positive',
      method: 'diagnosis',
      rule: refuted ? 'diagnosis-refuted' : 'diagnosis-code',
      trigger: resource.code?.coding?.find((c) => hasCoding({ coding: [c] }, diagnoses.codes))?.code ?? '',
      evidenceTime,
    },
  };
}

/**
 * Reads the evidence a confirming resource gives under one model's rule.
 * @param resource - A DiagnosticReport, Observation (report text or lab) or Condition, not AI-labelled.
 * @param rule - The model's rule.
 * @returns Evidence, a retraction (the resource no longer supports a label), or undefined when the rule
 *   does not cover the resource.
 */
export function readEvidence(
  resource: ConfirmingResource,
  rule: GroundTruthRule
): EvidenceOutcome | undefined {
  if (hasAiLabel(resource.meta)) {
    return undefined;
  }
  if (resource.resourceType === 'Condition') {
    return diagnosisOutcome(resource, rule);
  }
  if (resource.resourceType === 'DiagnosticReport') {
    return reportOutcome(resource, rule);
  }
  return reportOutcome(resource, rule) ?? labOutcome(resource, rule);
}

/**
 * Tells whether evidence falls in the rule's window around the AI result and names the same imaging
 * study when the rule requires it and both name one.
 * @param ai - The AI result.
 * @param outcome - Evidence of a confirming resource.
 * @param requireSameStudy - Whether the study keys must overlap when both sides have some.
 */
export function evidenceMatches(
  ai: AiResultFacts,
  outcome: Extract<EvidenceOutcome, { kind: 'evidence' }>,
  requireSameStudy: boolean
): boolean {
  if (ai.patient !== outcome.patient) {
    return false;
  }
  const offsetMs = outcome.evidence.evidenceTime.getTime() - ai.effective.getTime();
  if (offsetMs < -outcome.window.before * HOUR_MS || offsetMs > outcome.window.after * HOUR_MS) {
    return false;
  }
  if (requireSameStudy && ai.studyKeys.length > 0 && outcome.studyKeys.length > 0) {
    return ai.studyKeys.some((key) => outcome.studyKeys.includes(key));
  }
  return true;
}
