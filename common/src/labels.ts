/**
 * Ground-truth labels of AI results and the AI-versus-label concordance rollup. fhir-server-ext writes
 * both when a confirming result (a final radiology report, a confirmatory lab, a diagnosis) is linked to
 * an AI result. The analyzers and the SMART app read them with {@link readLabels} and
 * {@link readConcordance}. Like the ACR Assess-AI registry, the concordance compares each AI result with
 * the label derived from the report, and it is pre-computed per model and UTC day, because FerretDB has
 * no $group accumulator besides $sum and $count.
 */
import type { Db } from 'mongodb';

/** MongoDB collections of the ground-truth labels. */
export const LABEL_COLLECTIONS = {
  /** One document per AI result Observation id, see {@link LabelDocument}. */
  labels: 'ground_truth_labels',
  /** One document per model and UTC day, see {@link ConcordanceDocument}. */
  concordance: 'label_concordance',
} as const;

/** Bull queue of confirming resources and AI results waiting to be linked. */
export const GROUND_TRUTH_QUEUE = 'monitormed-ground-truth';

/** One delivered resource version for the ground-truth linker. */
export interface GroundTruthJob {
  /** `ai-result` for an AIAST-labelled Observation, `evidence` for a confirming resource. */
  kind: 'ai-result' | 'evidence';
  resourceType: 'Observation' | 'DiagnosticReport' | 'Condition';
  id: string;
  versionId: string;
}

/**
 * Builds the bull job id of a ground-truth job, so that a redelivered resource version is linked once.
 * @param job - The job payload.
 * @returns An id such as `ground-truth/DiagnosticReport/12/_history/2`.
 */
export function groundTruthJobId(job: GroundTruthJob): string {
  return `ground-truth/${job.resourceType}/${job.id}/_history/${job.versionId}`;
}

/** Label of an AI result; `unknown` until confirming evidence arrives or the rule's horizon passes. */
export type GroundTruthLabel = 'positive' | 'negative' | 'uncertain' | 'unknown';

/** Source kind of a label: report text, a lab value, a diagnosis, or no evidence by the horizon. */
export type LabelMethod = 'rule' | 'lab' | 'diagnosis' | 'horizon';

/** One confirming resource linked to an AI result, and the label it supports. */
export interface LabelEvidence {
  /** Versionless reference, such as `DiagnosticReport/12`. */
  source: string;
  /** `meta.versionId` of the source version that gave this label. */
  versionId: string;
  label: Exclude<GroundTruthLabel, 'unknown'>;
  method: LabelMethod;
  /** Name of the rule that fired, such as `pre-negation` or `lab-above-threshold`. */
  rule: string;
  /** Trigger or code that fired the rule; never report text beyond the trigger term. */
  trigger?: string;
  /** Character offsets of the target mention in `field` of the source, for report labels. */
  span?: { field: string; start: number; end: number };
  /** Clinical time of the evidence (report effective time, lab time, condition onset). */
  evidenceTime: Date;
}

/** Stored label of one AI result, in {@link LABEL_COLLECTIONS}.labels. */
export interface LabelDocument {
  /** Id of the AI result Observation. */
  _id: string;
  modelId: string;
  /** Versionless reference of the patient, such as `Patient/7`. */
  patient: string;
  /** `meta.versionId` of the AI result read when it was last linked. */
  aiVersionId: string;
  /** The model's probability output p. */
  score: number;
  /** Whether p is at or above the model's positiveThreshold. */
  aiPositive: boolean;
  /** Observation.effectiveDateTime of the AI result. */
  aiEffective: Date;
  /** UTC day of `aiEffective`, `YYYY-MM-DD`, the concordance window. */
  day: string;
  label: GroundTruthLabel;
  /** Method of the evidence that decided the label, absent while unknown. */
  method?: LabelMethod;
  /** Reference and version of the evidence that decided the label, absent while unknown. */
  source?: string;
  sourceVersionId?: string;
  /** Every linked confirming resource, one entry per source. */
  evidence: LabelEvidence[];
  /** Version of the report-text extractor that produced rule labels. */
  extractorVersion: string;
  /** When the AI result was first linked to a label other than unknown. */
  linkedAt?: Date;
  /** linkedAt − aiEffective, in milliseconds. */
  latencyMs?: number;
  /** When the rule's horizon passes: without evidence by then the label may become negative. */
  horizonAt: Date;
  /** Incremented by every change, so that concurrent writers do not overwrite each other. */
  revision: number;
  /** Revision last written to FHIR; a revision above it is still to be written (or deleted, when unknown). */
  publishedRevision?: number;
  updatedAt: Date;
}

/** Confusion-matrix cell of one labelled AI result, or `uncertain` for an uncertain label. */
export type ConcordanceBucket = 'tp' | 'fp' | 'tn' | 'fn' | 'uncertain';

/**
 * Stored concordance of one model on one UTC day of AI result time.
 * `agree` = tp + tn and `disagree` = fp + fn, kept as counters so readers need no arithmetic on the server.
 */
export interface ConcordanceDocument {
  /** `{modelId}|{day}`. */
  _id: string;
  modelId: string;
  day: string;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  uncertain: number;
  agree: number;
  disagree: number;
  /**
   * Bucket in which each AI result is counted now, keyed by Observation id with `.` replaced by `_`.
   * Moving a result between buckets is one conditional update on this document, so it happens once.
   * NOTE: the 16 MB document limit caps this at roughly 400 000 results per model and day (an
   * estimate from about 40 bytes per entry).
   */
  counted: Record<string, ConcordanceBucket>;
  updatedAt: Date;
}

/**
 * Returns the confusion-matrix cell of a label against the AI call.
 * @param aiPositive - Whether the score is at or above the model's positiveThreshold.
 * @param label - The ground-truth label.
 * @returns The bucket, or undefined for an unknown label, which is not counted.
 */
export function concordanceBucket(
  aiPositive: boolean,
  label: GroundTruthLabel
): ConcordanceBucket | undefined {
  if (label === 'unknown') {
    return undefined;
  }
  if (label === 'uncertain') {
    return 'uncertain';
  }
  if (label === 'positive') {
    return aiPositive ? 'tp' : 'fn';
  }
  return aiPositive ? 'fp' : 'tn';
}

/** Filter of the read functions. Days are inclusive `YYYY-MM-DD` UTC days. */
export interface LabelQuery {
  modelId?: string;
  fromDay?: string;
  toDay?: string;
}

/** One model's concordance on one UTC day, with the rates derived from the counters. */
export interface Concordance {
  modelId: string;
  day: string;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  uncertain: number;
  agree: number;
  disagree: number;
  /** agree / (agree + disagree), or undefined when no result has a positive or negative label. */
  concordanceRate: number | undefined;
}

function dayFilter(query: LabelQuery): Record<string, unknown> {
  const filter: Record<string, unknown> = {};
  if (query.modelId !== undefined) {
    filter['modelId'] = query.modelId;
  }

  // Day keys are zero-padded ISO dates, so string order is date order.
  const range: Record<string, string> = {};
  if (query.fromDay !== undefined) {
    range['$gte'] = query.fromDay;
  }
  if (query.toDay !== undefined) {
    range['$lte'] = query.toDay;
  }
  if (Object.keys(range).length > 0) {
    filter['day'] = range;
  }
  return filter;
}

/**
 * Reads the pre-computed AI-versus-label concordance per model and UTC day.
 * @param db - The MonitorMed database.
 * @param query - Optional model and inclusive day range.
 * @returns The rollups, ordered by model and day.
 */
export async function readConcordance(db: Db, query: LabelQuery = {}): Promise<Concordance[]> {
  const documents = await db
    .collection<ConcordanceDocument>(LABEL_COLLECTIONS.concordance)
    .find(dayFilter(query), { projection: { counted: 0 } })
    .sort({ modelId: 1, day: 1 })
    .toArray();

  return documents.map((document) => {
    const decided = document.agree + document.disagree;
    return {
      modelId: document.modelId,
      day: document.day,
      tp: document.tp,
      fp: document.fp,
      tn: document.tn,
      fn: document.fn,
      uncertain: document.uncertain,
      agree: document.agree,
      disagree: document.disagree,
      concordanceRate: decided === 0 ? undefined : document.agree / decided,
    };
  });
}

/**
 * Reads the positive and negative labels with the AI score, the input of AUROC, sensitivity and
 * calibration. Uncertain and unknown labels are left out.
 * @param db - The MonitorMed database.
 * @param query - Optional model and inclusive day range of AI result time.
 * @returns The label documents, ordered by AI result time.
 */
export async function readLabels(db: Db, query: LabelQuery = {}): Promise<LabelDocument[]> {
  return db
    .collection<LabelDocument>(LABEL_COLLECTIONS.labels)
    .find({ ...dayFilter(query), label: { $in: ['positive', 'negative'] } })
    .sort({ aiEffective: 1, _id: 1 })
    .toArray();
}
