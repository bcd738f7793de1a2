import { MongoClient, type Db } from 'mongodb';
import type { MonitorMedConfig } from './config.js';

/**
 * MongoDB collection names. The code that uses them must run on MongoDB 7 and on FerretDB 1.24,
 * so it avoids $lookup, $facet, transactions, change streams, TTL indexes and every $group
 * accumulator other than $sum and $count.
 */
export const COLLECTIONS = {
  /** Every HL7 v2 message received, with its raw text, status and ACK. Written by hl7-listener. */
  hl7Messages: 'hl7_messages',
  /** One document per analysed AI result: model, window, score and uncertainty. Written by analyzers. */
  aiResults: 'ai_results',
  /** Metric time series keyed by model, version, metric, subgroup and window. Written by analyzers. */
  metrics: 'metrics',
  /** One document per CDS Hooks card issued, naming the Flags and model it is about. Written by fhir-server-ext. */
  cdsCards: 'cds_cards',
  /** CDS Hooks feedback, one document per card and outcome. Written by fhir-server-ext. */
  cdsFeedback: 'cds_feedback',
  /** Accepted and overridden card counts per model and UTC day. Written by fhir-server-ext with $inc. */
  overrideRates: 'override_rates',
} as const;

/** An open MongoDB connection and the MonitorMed database. */
export interface MongoHandle {
  client: MongoClient;
  db: Db;
}

/**
 * Connects to MongoDB (or FerretDB) and selects the MonitorMed database.
 * @param config - Service configuration with `mongoUrl` and `mongoDatabase`.
 * @param timeoutMs - How long to wait for the server before failing.
 * @returns The connected client and database.
 */
export async function connectMongo(
  config: Pick<MonitorMedConfig, 'mongoUrl' | 'mongoDatabase'>,
  timeoutMs = 10_000
): Promise<MongoHandle> {
  const client = new MongoClient(config.mongoUrl, {
    serverSelectionTimeoutMS: timeoutMs,
    // FerretDB runs standalone; retryable writes would need sessions it ignores.
    retryWrites: false,
  });
  await client.connect();
  return { client, db: client.db(config.mongoDatabase) };
}
