import { Binary, BSON, type ObjectId } from 'mongodb';
import type { MessageStatus } from './message-types.js';
import type { MessageRecord } from './message-views.js';

/**
 * A document of `hl7_messages` as stored. The fields that queries filter on stay top-level, and the
 * rest of the {@link MessageRecord}, with the message bytes as binary instead of base64, is one BSON
 * document in `packed`.
 *
 * FerretDB 1.24 converts every field of an inserted document into its own JSON form with a type
 * schema, so its insert cost grows with the number of fields. On the 2-CPU benchmark machine, a record
 * took 0.25 to 0.27 ms to insert whole and 0.19 ms packed, in groups of 50
 * (`bench/mongo-insert-probe.ts`). In four alternating MLLP benchmark runs, immediate mode accepted
 * 2,051 to 2,739 messages/s with 50 connections with packed records, against 1,853 to 2,234 before
 * (bench/results/mllp-throughput.md).
 *
 * The price is that `mongosh` shows the packed fields as binary, so read messages through
 * `MessageStore` or the dead-letter CLI, which decode them.
 */
export interface StoredRecord {
  _id: ObjectId;
  /** Unique key of the message version; see `MessageRecord.dedupKey`. */
  dedupKey: string;
  /** MSH-10, top-level so that a message can be found by its control id. */
  controlId?: string;
  /** SHA-256 of the bytes, top-level so that a message can be found by its content. */
  sha256: string;
  /** Present only on a message stored finished at accept time, which the dead-letter CLI lists by status. */
  status?: MessageStatus;
  /** BSON of the other fields; see {@link PackedFields}. */
  packed: Binary;
}

/** Fields of a {@link MessageRecord} that {@link StoredRecord} keeps top-level. */
type TopLevelField = '_id' | 'dedupKey' | 'controlId' | 'sha256' | 'status';

/** The packed fields as serialized: the record without its top-level fields, and `raw` for `rawBase64`. */
type PackedFields = Omit<MessageRecord, TopLevelField | 'rawBase64'> & { raw: Uint8Array };

/** Fields of every packed record, with the `typeof` of their value. */
const REQUIRED_TYPES: Record<string, string> = {
  byteLength: 'number',
  version: 'number',
  patientKey: 'string',
  channel: 'string',
  ackMode: 'string',
};

function isPackedFields(value: BSON.Document): value is PackedFields {
  const { raw, header, receivedAt, peer } = value;
  return (
    raw instanceof Uint8Array &&
    Array.isArray(header) &&
    header.every((field: unknown) => typeof field === 'string') &&
    receivedAt instanceof Date &&
    typeof peer === 'object' &&
    peer !== null &&
    Object.entries(REQUIRED_TYPES).every(([name, type]) => typeof value[name] === type)
  );
}

/** Tells a packed document from a record stored whole, as listener versions before packing did. */
function isStoredRecord(document: StoredRecord | MessageRecord): document is StoredRecord {
  return 'packed' in document && document.packed instanceof Binary;
}

/** Builds the document that stores `record` in `hl7_messages`. */
export function packRecord(record: MessageRecord): StoredRecord {
  const { _id, dedupKey, controlId, sha256, status, rawBase64, ...rest } = record;
  const fields: PackedFields = { ...rest, raw: Buffer.from(rawBase64, 'base64') };
  const stored: StoredRecord = {
    _id,
    dedupKey,
    sha256,
    packed: new Binary(BSON.serialize(fields, { ignoreUndefined: true })),
  };

  // Absent fields stay absent, so a filter such as `{ status: { $exists: false } }` keeps its meaning.
  if (controlId !== undefined) {
    stored.controlId = controlId;
  }
  if (status !== undefined) {
    stored.status = status;
  }
  return stored;
}

/**
 * Rebuilds the record from a stored document. A document without `packed`, written by a listener
 * version that stored records whole, is returned as it is.
 * @throws TypeError when the packed fields are not a record, which means a bug or an edited document.
 */
export function unpackRecord(document: StoredRecord | MessageRecord): MessageRecord {
  if (!isStoredRecord(document)) {
    return document;
  }

  const fields = BSON.deserialize(document.packed.buffer, { promoteBuffers: true });
  if (!isPackedFields(fields)) {
    const id = document._id.toHexString();
    throw new TypeError(
      `Invalid packed fields in hl7_messages document ${id}: restore the document from a backup if it was edited, or report a listener bug`
    );
  }

  const { raw, ...rest } = fields;
  const record: MessageRecord = {
    ...rest,
    _id: document._id,
    dedupKey: document.dedupKey,
    sha256: document.sha256,
    rawBase64: Buffer.from(raw).toString('base64'),
  };
  if (document.controlId !== undefined) {
    record.controlId = document.controlId;
  }
  if (document.status !== undefined) {
    record.status = document.status;
  }
  return record;
}
