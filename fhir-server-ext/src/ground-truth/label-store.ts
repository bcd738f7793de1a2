/**
 * MongoDB storage of ground-truth labels and of the concordance rollup (shapes in common/src/labels.ts).
 * Only single-document updates are used, so the code runs on FerretDB, which has no transactions.
 */
import {
  LABEL_COLLECTIONS,
  concordanceBucket,
  type ConcordanceBucket,
  type ConcordanceDocument,
  type GroundTruthLabel,
  type LabelDocument,
  type LabelEvidence,
} from '@monitormed/common';
import { MongoServerError, type Collection, type Db, type UpdateFilter } from 'mongodb';
import type { AiResultFacts } from './evidence.js';
import { EXTRACTOR_VERSION } from './extractor.js';

const DUPLICATE_KEY = 11000;
const HOUR_MS = 3_600_000;
const MAX_ATTEMPTS = 5;

/** A change to the evidence of one AI result: add or replace one source, or remove it. */
export type EvidenceChange =
  { kind: 'evidence'; evidence: LabelEvidence } | { kind: 'retract'; source: string; versionId: string };

/** Outcome of {@link LabelStore.apply}. */
export interface ApplyResult {
  /** The label document after the change. */
  document: LabelDocument;
  /** Whether the stored document changed; false for a repeated or older version. */
  changed: boolean;
}

/** UTC day `YYYY-MM-DD` of a time. */
export function utcDay(time: Date): string {
  return time.toISOString().slice(0, 10);
}

/** Versions are compared as numbers when both are numeric (HAPI's), otherwise as strings. */
function versionAtLeast(candidate: string, current: string): boolean {
  const a = Number(candidate);
  const b = Number(current);
  return Number.isFinite(a) && Number.isFinite(b) ? a >= b : candidate >= current;
}

/** Label priority: any positive evidence wins, then negative, then uncertain. */
const PRIORITY: readonly Exclude<GroundTruthLabel, 'unknown'>[] = ['positive', 'negative', 'uncertain'];

/** Returns the deciding evidence: the newest evidence of the highest-priority label. */
export function decidingEvidence(evidence: readonly LabelEvidence[]): LabelEvidence | undefined {
  for (const label of PRIORITY) {
    const winners = evidence
      .filter((e) => e.label === label)
      .sort((a, b) => b.evidenceTime.getTime() - a.evidenceTime.getTime());
    if (winners[0] !== undefined) {
      return winners[0];
    }
  }
  return undefined;
}

/** Key of an AI result in ConcordanceDocument.counted: FHIR ids contain no `_`, so `.` maps to it safely. */
function countedKey(observationId: string): string {
  return observationId.replaceAll('.', '_');
}

function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY;
}

/** Typed access to the label and concordance collections. */
export class LabelStore {
  private readonly labels: Collection<LabelDocument>;
  private readonly concordance: Collection<ConcordanceDocument>;

  constructor(db: Db) {
    this.labels = db.collection<LabelDocument>(LABEL_COLLECTIONS.labels);
    this.concordance = db.collection<ConcordanceDocument>(LABEL_COLLECTIONS.concordance);
  }

  /** Creates the indexes of the look-ups by source and by horizon. */
  async ensureIndexes(): Promise<void> {
    await this.labels.createIndex({ 'evidence.source': 1 });
    await this.labels.createIndex({ label: 1, horizonAt: 1 });
    await this.labels.createIndex({ modelId: 1, day: 1 });
  }

  /**
   * Records an AI result without evidence yet (label unknown), or refreshes its facts.
   * @param ai - The AI result.
   * @param horizonHours - Hours after the AI result at which the horizon rule applies.
   */
  async register(ai: AiResultFacts, horizonHours: number): Promise<LabelDocument> {
    return (await this.apply(ai, horizonHours, undefined)).document;
  }

  /**
   * Applies an evidence change to an AI result's label, then moves its concordance count if the label
   * changed. An older version of a source than the stored one is ignored. The rollup step runs on every
   * call, so a retry after a crash between the two writes completes the move.
   * @param ai - The AI result.
   * @param horizonHours - Hours after the AI result at which the horizon rule applies.
   * @param change - The evidence change, or undefined to only register the AI result.
   */
  async apply(
    ai: AiResultFacts,
    horizonHours: number,
    change: EvidenceChange | undefined
  ): Promise<ApplyResult> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const current = await this.labels.findOne({ _id: ai.id });
      const next = this.nextDocument(ai, horizonHours, current, change);
      if (next === undefined && current !== null) {
        await this.syncRollup(current);
        return { document: current, changed: false };
      }
      if (next === undefined) {
        continue;
      }

      // Optimistic concurrency: the write succeeds only if no other writer changed the document since it was read.
      const written =
        current === null ? await this.insert(next) : await this.replaceAt(next, current.revision);
      if (written) {
        await this.syncRollup(next);
        return { document: next, changed: true };
      }
    }
    throw new Error(
      `The label of Observation/${ai.id} changed concurrently ${MAX_ATTEMPTS} times; the job will retry.`
    );
  }

  /**
   * Finds the AI result ids whose label names the source, for retractions.
   * @param source - Versionless reference such as `DiagnosticReport/12`.
   */
  async findBySource(source: string): Promise<LabelDocument[]> {
    return this.labels.find({ 'evidence.source': source }).toArray();
  }

  /**
   * Finds unknown labels of the models whose horizon has passed, oldest horizon first.
   * @param modelIds - Models whose rule can give a label at the horizon.
   * @param now - The current time.
   * @param limit - Maximum number returned.
   */
  async findPastHorizon(modelIds: readonly string[], now: Date, limit: number): Promise<LabelDocument[]> {
    return this.labels
      .find({ modelId: { $in: [...modelIds] }, label: 'unknown', horizonAt: { $lte: now } })
      .sort({ horizonAt: 1 })
      .limit(limit)
      .toArray();
  }

  /**
   * Records that a revision is in FHIR. Only a newer write can raise it, so a slow writer cannot mark
   * a later revision as published.
   * @param observationId - The AI result id.
   * @param revision - The revision written.
   */
  async markPublished(observationId: string, revision: number): Promise<void> {
    await this.labels.updateOne({ _id: observationId, revision }, { $set: { publishedRevision: revision } });
  }

  /** Reads one label document. */
  async get(observationId: string): Promise<LabelDocument | null> {
    return this.labels.findOne({ _id: observationId });
  }

  private nextDocument(
    ai: AiResultFacts,
    horizonHours: number,
    current: LabelDocument | null,
    change: EvidenceChange | undefined
  ): LabelDocument | undefined {
    let evidence = current?.evidence ?? [];
    if (change !== undefined) {
      const source = change.kind === 'evidence' ? change.evidence.source : change.source;
      const versionId = change.kind === 'evidence' ? change.evidence.versionId : change.versionId;
      const existing = evidence.find((e) => e.source === source);
      if (existing !== undefined && !versionAtLeast(versionId, existing.versionId)) {
        return undefined;
      }
      evidence = evidence.filter((e) => e.source !== source);
      if (change.kind === 'evidence') {
        evidence = [...evidence, change.evidence];
      }
    }

    const deciding = decidingEvidence(evidence);
    const now = new Date();
    const label: GroundTruthLabel = deciding?.label ?? 'unknown';
    const linkedAt = current?.linkedAt ?? (deciding === undefined ? undefined : now);
    const next: LabelDocument = {
      _id: ai.id,
      modelId: ai.model.modelId,
      patient: ai.patient,
      aiVersionId: ai.versionId,
      score: ai.score,
      aiPositive: ai.score >= ai.model.positiveThreshold,
      aiEffective: ai.effective,
      day: utcDay(ai.effective),
      label,
      ...(deciding === undefined
        ? {}
        : { method: deciding.method, source: deciding.source, sourceVersionId: deciding.versionId }),
      evidence,
      extractorVersion: EXTRACTOR_VERSION,
      ...(linkedAt === undefined ? {} : { linkedAt, latencyMs: linkedAt.getTime() - ai.effective.getTime() }),
      horizonAt: new Date(ai.effective.getTime() + horizonHours * HOUR_MS),
      revision: (current?.revision ?? 0) + 1,
      ...(current?.publishedRevision === undefined ? {} : { publishedRevision: current.publishedRevision }),
      updatedAt: now,
    };

    if (current !== null && sameContent(current, next)) {
      return undefined;
    }
    return next;
  }

  private async insert(next: LabelDocument): Promise<boolean> {
    try {
      await this.labels.insertOne(next);
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) {
        return false;
      }
      throw err;
    }
  }

  private async replaceAt(next: LabelDocument, revision: number): Promise<boolean> {
    const result = await this.labels.replaceOne({ _id: next._id, revision }, next);
    return result.modifiedCount === 1;
  }

  /**
   * Makes the rollup count the result in the bucket of its current label. The `counted` map in the
   * rollup document records the bucket of each result, so a repeated call changes nothing, and a move
   * decrements the old bucket and increments the new one in one atomic update.
   */
  private async syncRollup(document: LabelDocument): Promise<void> {
    // NOTE: if a new version of the AI result moves it to another day, its count on the old day stays.
    const id = `${document.modelId}|${document.day}`;
    const key = `counted.${countedKey(document._id)}`;
    const targetBucket = concordanceBucket(document.aiPositive, document.label);

    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const rollup = await this.concordance.findOne({ _id: id }, { projection: { [key]: 1 } });
      const countedBucket = rollup?.counted[countedKey(document._id)];
      if (countedBucket === targetBucket) {
        return;
      }

      const increments: Record<string, number> = {
        tp: 0,
        fp: 0,
        tn: 0,
        fn: 0,
        uncertain: 0,
        agree: 0,
        disagree: 0,
      };
      addBucket(increments, countedBucket, -1);
      addBucket(increments, targetBucket, 1);
      const filter =
        countedBucket === undefined
          ? { _id: id, [key]: { $exists: false } }
          : { _id: id, [key]: countedBucket };
      const update: UpdateFilter<ConcordanceDocument> = {
        $inc: increments,
        $set: { modelId: document.modelId, day: document.day, updatedAt: new Date() },
      };
      if (targetBucket === undefined) {
        update.$unset = { [key]: '' };
      } else {
        update.$set = { ...update.$set, [key]: targetBucket };
      }

      try {
        const result = await this.concordance.updateOne(filter, update, {
          upsert: countedBucket === undefined && targetBucket !== undefined,
        });
        if (result.modifiedCount + result.upsertedCount > 0) {
          return;
        }
      } catch (err) {
        // Two first counts of a model and day raced; the next attempt finds the document.
        if (!isDuplicateKey(err)) {
          throw err;
        }
      }
    }
    throw new Error(
      `The concordance of ${id} changed concurrently ${MAX_ATTEMPTS} times; the job will retry.`
    );
  }
}

function addBucket(
  increments: Record<string, number>,
  bucket: ConcordanceBucket | undefined,
  delta: number
): void {
  if (bucket === undefined) {
    return;
  }
  increments[bucket] = (increments[bucket] ?? 0) + delta;
  if (bucket === 'tp' || bucket === 'tn') {
    increments['agree'] = (increments['agree'] ?? 0) + delta;
  } else if (bucket === 'fp' || bucket === 'fn') {
    increments['disagree'] = (increments['disagree'] ?? 0) + delta;
  }
}

/** Compares everything but revision and updatedAt (and linkedAt, which is kept from the first link). */
function sameContent(a: LabelDocument, b: LabelDocument): boolean {
  const strip = (d: LabelDocument): unknown => ({
    ...d,
    revision: 0,
    publishedRevision: 0,
    updatedAt: 0,
    linkedAt: 0,
    latencyMs: 0,
  });
  return stableJson(strip(a)) === stableJson(strip(b));
}

/** JSON with object keys sorted, because a document read back may list its fields in another order. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      return item;
    }
    const record = item as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(record)
        .sort()
        .map((key) => [key, record[key]])
    );
  });
}
