import type { Collection } from 'mongodb';
import type { MessageStatus, QueueState, QueuedMessage, StoredDocument } from './message-types.js';
import { mergeView, workMessageOf, type MessageRecord, type OutcomeDocument } from './message-views.js';
import { unpackRecord, type StoredRecord } from './record-codec.js';
import type { QueueLog } from './queue-log.js';
import { queuedMessageOf } from './queue-segments.js';

/** Queued messages whose records {@link loadWorkMessages} reads with one query. */
const LOAD_CHUNK = 2_000;

/**
 * Merges records of `hl7_messages` with their outcomes and, when `queue` is given, with the queue state
 * of the unfinished ones. Reading the queue state reads every queue segment.
 */
export async function readViews(
  records: MessageRecord[],
  outcomes: Collection<OutcomeDocument>,
  queue: QueueLog | undefined
): Promise<StoredDocument[]> {
  if (records.length === 0) {
    return [];
  }
  const ids = records.map((record) => record._id);

  // FerretDB 1.24 runs a lookup of one `_id` in SQL and an `$in` in its own process, which is slower.
  const [onlyId] = ids;
  const found =
    ids.length === 1 && onlyId !== undefined
      ? [await outcomes.findOne({ _id: onlyId })].filter((outcome) => outcome !== null)
      : await outcomes.find({ _id: { $in: ids } }).toArray();
  const outcomeById = new Map(found.map((outcome) => [outcome._id.toHexString(), outcome]));

  const queued = new Map<string, QueueState>();
  if (queue !== undefined) {
    const requestedIds = new Set(ids.map((id) => id.toHexString()));
    for (const name of await queue.listSegments()) {
      for (const message of (await queue.readSegment(name)).messages) {
        const key = message._id.toHexString();
        if (requestedIds.has(key) && !message.done) {
          queued.set(key, message);
        }
      }
    }
  }

  return records.map((record) => {
    const key = record._id.toHexString();
    return mergeView(record, outcomeById.get(key), queued.get(key));
  });
}

/**
 * Reads what processing needs of queued messages from `hl7_messages`, in chunks of {@link LOAD_CHUNK}.
 * On FerretDB 1.24 each chunk scans the collection once.
 * @returns The messages found; a state whose record is missing is left out.
 */
export async function loadWorkMessages(
  collection: Collection<StoredRecord>,
  states: QueueState[]
): Promise<QueuedMessage[]> {
  const loaded: QueuedMessage[] = [];
  for (let start = 0; start < states.length; start += LOAD_CHUNK) {
    const chunk = states.slice(start, start + LOAD_CHUNK);
    // No projection: the work fields are inside `packed`, or top-level in a record stored whole.
    const documents = await collection.find({ _id: { $in: chunk.map((state) => state._id) } }).toArray();
    const byId = new Map(
      documents.map((document) => [document._id.toHexString(), workMessageOf(unpackRecord(document))])
    );
    for (const state of chunk) {
      const work = byId.get(state._id.toHexString());
      if (work !== undefined) {
        loaded.push(queuedMessageOf(state, work));
      }
    }
  }
  return loaded;
}

/**
 * Keeps the views whose status is one of `statuses`, each message once, newest first, at most `limit`.
 * A message can be read twice: from its outcome and from a record stored finished at accept time.
 */
export function newestInStatuses(
  views: StoredDocument[],
  statuses: MessageStatus[],
  limit: number
): StoredDocument[] {
  const seen = new Set<string>();
  const distinct = views.filter((view) => {
    const key = view._id.toHexString();
    if (!statuses.includes(view.status) || seen.has(key)) {
      return false;
    }
    seen.add(key);
    return true;
  });
  return distinct.sort((a, b) => b.receivedAt.getTime() - a.receivedAt.getTime()).slice(0, limit);
}
