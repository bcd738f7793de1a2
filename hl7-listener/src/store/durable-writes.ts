import type { CollectionOptions } from 'mongodb';

/**
 * Options of every collection the message store writes. After an accept ACK the sender discards the
 * message, so a write counts only once it is in the on-disk journal of a majority of the replica set (of
 * a standalone mongod: its own journal). A standalone mongod, or a replica set whose default write
 * concern is `w: 1`, acknowledges a plain write while it is only in memory.
 * See https://www.mongodb.com/docs/manual/reference/write-concern/.
 */
export const DURABLE_WRITES: CollectionOptions = { writeConcern: { w: 'majority', journal: true } };
