/**
 * MongoDB storage of issued cards, of the feedback on them, and of the per-model, per-day override-rate
 * rollup that `readOverrideRates` in @monitormed/common reads.
 */
import type { Coding } from '@medplum/fhirtypes';
import { COLLECTIONS, overrideRateId, type OverrideRateDocument } from '@monitormed/common';
import { MongoServerError, type Collection, type Db } from 'mongodb';
import type { CardRecord } from './cards.js';
import type { CdsFeedback } from './types.js';

/** Stored feedback: one document per card and outcome. */
export interface FeedbackDocument {
  /** `{card uuid}|{outcome}`. */
  _id: string;
  card: string;
  outcome: CdsFeedback['outcome'];
  serviceId: string;
  modelId: string | null;
  observationId: string;
  flagIds: string[];
  acceptedSuggestions: string[];
  overrideReason: Coding | null;
  /** The clinician's free-text comment. It may contain PHI, so it is stored but never logged. */
  userComment: string | null;
  outcomeTimestamp: Date;
  /** UTC day of outcomeTimestamp, the rollup window. */
  day: string;
  receivedAt: Date;
  /** Identity of the client that sent it. */
  clientIss: string;
}

/** Result of recording a batch of feedback. */
export interface FeedbackResult {
  /** Items counted in the override rate now. */
  counted: number;
  /** Items already recorded before, counted once only. */
  duplicates: number;
  /** Items stored but not counted, because the card names no model. */
  unattributed: number;
}

const DUPLICATE_KEY = 11000;

/**
 * Stores the records of cards just issued.
 * @param db - The MonitorMed database.
 * @param records - One record per card.
 */
export async function saveCardRecords(db: Db, records: readonly CardRecord[]): Promise<void> {
  if (records.length === 0) {
    return;
  }
  await db.collection<CardRecord>(COLLECTIONS.cdsCards).insertMany([...records]);
}

/**
 * Reads the records of the given cards.
 * @param db - The MonitorMed database.
 * @param uuids - Card uuids.
 * @returns Records by uuid; unknown uuids are absent.
 */
export async function findCardRecords(db: Db, uuids: readonly string[]): Promise<Map<string, CardRecord>> {
  const records = await db
    .collection<CardRecord>(COLLECTIONS.cdsCards)
    .find({ _id: { $in: [...new Set(uuids)] } })
    .toArray();
  return new Map(records.map((record) => [record._id, record]));
}

/**
 * Stores feedback and counts each new card outcome once in its model's rollup of the outcome's UTC day.
 *
 * The feedback document is upserted first. Then the rollup is incremented only if its `countedFeedback`
 * does not yet contain the `{card}|{outcome}` key, in one atomic single-document update. A retry after a
 * crash between the two steps finds the key missing and counts the item then. Concurrent copies of one
 * item count once, because only one update can add the key.
 * @param db - The MonitorMed database.
 * @param documents - Validated feedback, attributed to cards.
 */
export async function recordFeedback(
  db: Db,
  documents: readonly FeedbackDocument[]
): Promise<FeedbackResult> {
  const feedback = db.collection<FeedbackDocument>(COLLECTIONS.cdsFeedback);
  const rollups = db.collection<OverrideRateDocument>(COLLECTIONS.overrideRates);
  const result: FeedbackResult = { counted: 0, duplicates: 0, unattributed: 0 };

  for (const document of documents) {
    // $setOnInsert keeps the first copy; a repeat with another comment does not overwrite it.
    await ignoreDuplicateKey(
      feedback.updateOne({ _id: document._id }, { $setOnInsert: document }, { upsert: true })
    );

    if (document.modelId === null) {
      result.unattributed++;
    } else if (await countOnce(rollups, document, document.modelId)) {
      result.counted++;
    } else {
      result.duplicates++;
    }
  }
  return result;
}

/** Increments the rollup unless the feedback key is already in it; returns whether it counted. */
async function countOnce(
  rollups: Collection<OverrideRateDocument>,
  document: FeedbackDocument,
  modelId: string
): Promise<boolean> {
  const counter = document.outcome === 'accepted' ? 'accepted' : 'overridden';
  const other = counter === 'accepted' ? 'overridden' : 'accepted';

  // Two attempts: when two first feedbacks of a model and day race, the losing upsert hits the
  // duplicate _id although its key is not counted, and the second attempt then finds the document.
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      const update = await rollups.updateOne(
        { _id: overrideRateId(modelId, document.day), countedFeedback: { $ne: document._id } },
        {
          $inc: { [counter]: 1, [other]: 0 },
          $push: { countedFeedback: document._id },
          $set: { modelId, day: document.day, updatedAt: new Date() },
        },
        { upsert: true }
      );
      return update.modifiedCount + update.upsertedCount > 0;
    } catch (err) {
      // The filter missed, so the upsert tried to insert a document whose _id exists.
      if (!(err instanceof MongoServerError && err.code === DUPLICATE_KEY)) {
        throw err;
      }
    }
  }
  return false;
}

async function ignoreDuplicateKey(operation: Promise<unknown>): Promise<void> {
  try {
    await operation;
  } catch (err) {
    if (!(err instanceof MongoServerError && err.code === DUPLICATE_KEY)) {
      throw err;
    }
  }
}
