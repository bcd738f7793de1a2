/**
 * Override rate of each model's CDS Hooks cards: how often clinicians dismissed ("overridden") rather than
 * accepted the cards MonitorMed showed them about that model's results. fhir-server-ext keeps one
 * pre-computed document per model and UTC day, so reading needs no aggregation (FerretDB supports no
 * $group accumulator besides $sum and $count).
 */
import type { Db } from 'mongodb';
import { COLLECTIONS } from './mongo.js';

/** Stored rollup of one model's card feedback on one UTC day. */
export interface OverrideRateDocument {
  /** `{modelId}|{day}`, see {@link overrideRateId}. */
  _id: string;
  modelId: string;
  /** UTC day of the feedback's outcomeTimestamp, `YYYY-MM-DD`. */
  day: string;
  accepted: number;
  overridden: number;
  /**
   * Keys `{card uuid}|{outcome}` already counted, so a repeated feedback is not counted twice.
   * NOTE: the 16 MB document limit caps this at roughly 250 000 items per model and day (an estimate
   * from about 60 bytes per key).
   */
  countedFeedback: string[];
  updatedAt: Date;
}

/** One model's override rate on one UTC day. */
export interface OverrideRate {
  modelId: string;
  day: string;
  accepted: number;
  overridden: number;
  /** overridden / (accepted + overridden), or undefined when neither was recorded. */
  overrideRate: number | undefined;
}

/** Filter of {@link readOverrideRates}. Days are inclusive `YYYY-MM-DD` UTC days. */
export interface OverrideRateQuery {
  modelId?: string;
  fromDay?: string;
  toDay?: string;
}

/**
 * Builds the `_id` of a rollup document.
 * @param modelId - Model id, as in MODEL_ID_SYSTEM.
 * @param day - UTC day `YYYY-MM-DD`.
 * @returns `{modelId}|{day}`.
 */
export function overrideRateId(modelId: string, day: string): string {
  return `${modelId}|${day}`;
}

/**
 * Reads the per-model, per-day override rates that fhir-server-ext records from CDS Hooks feedback.
 * @param db - The MonitorMed database.
 * @param query - Optional model and inclusive day range.
 * @returns The rates, ordered by model and day.
 */
export async function readOverrideRates(db: Db, query: OverrideRateQuery = {}): Promise<OverrideRate[]> {
  const filter: Record<string, unknown> = {};
  if (query.modelId !== undefined) {
    filter['modelId'] = query.modelId;
  }

  // Day keys are zero-padded ISO dates, so string order is date order.
  const dayRange: Record<string, string> = {};
  if (query.fromDay !== undefined) {
    dayRange['$gte'] = query.fromDay;
  }
  if (query.toDay !== undefined) {
    dayRange['$lte'] = query.toDay;
  }
  if (Object.keys(dayRange).length > 0) {
    filter['day'] = dayRange;
  }

  const documents = await db
    .collection<OverrideRateDocument>(COLLECTIONS.overrideRates)
    .find(filter, { projection: { countedFeedback: 0 } })
    .sort({ modelId: 1, day: 1 })
    .toArray();

  return documents.map((document) => {
    const decided = document.accepted + document.overridden;
    return {
      modelId: document.modelId,
      day: document.day,
      accepted: document.accepted,
      overridden: document.overridden,
      overrideRate: decided === 0 ? undefined : document.overridden / decided,
    };
  });
}
