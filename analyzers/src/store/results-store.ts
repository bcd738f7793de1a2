/**
 * MongoDB access of the analyzers: AI result documents and metric documents (see documents.ts).
 */
import { COLLECTIONS } from '@monitormed/common';
import { MongoServerError, type Collection, type Db } from 'mongodb';
import type { AiResultDocument, MetricDocument, MetricKey, MetricName } from './documents.js';

/** MongoDB's error code for a unique index violation (E11000). */
const DUPLICATE_KEY_CODE = 11000;

/** Scores and ids of one window's results, as the drift evaluation needs them. */
export interface WindowResult {
  observationId: string;
  patientId?: string;
  score: number;
  entropy: number;
  effective?: Date;
  /** MC dropout mutual information in bits, when the result was analysed with a surrogate. */
  mcMutualInformation?: number;
}

/** One analysed result with its inputs, as the rollup and the feature drift test need it. */
export interface FeatureRow {
  observationId: string;
  score: number;
  entropy: number;
  effective?: Date;
  features: Record<string, number | string | null>;
}

/**
 * An AI result as stored: `_id` is the Observation id. Documents written before results were keyed by
 * `_id` have an ObjectId there.
 */
type StoredResult = AiResultDocument & { _id?: string };

/** Typed access to the analyzers' collections. */
export class ResultsStore {
  private readonly results: Collection<StoredResult>;
  private readonly metrics: Collection<MetricDocument>;

  constructor(db: Db) {
    this.results = db.collection<StoredResult>(COLLECTIONS.aiResults);
    this.metrics = db.collection<MetricDocument>(COLLECTIONS.metrics);
  }

  /** Creates the unique keys and the window index; safe to repeat. */
  async ensureIndexes(): Promise<void> {
    await this.results.createIndex(
      { observationId: 1 },
      { unique: true, name: 'observation_unique' },
      undefined
    );
    await this.results.createIndex(
      { modelId: 1, modelVersion: 1, window: 1 },
      { name: 'model_window' },
      undefined
    );
    await this.metrics.createIndex(
      { modelId: 1, modelVersion: 1, metric: 1, subgroup: 1, window: 1 },
      { unique: true, name: 'metric_key_unique' },
      undefined
    );
  }

  /**
   * Inserts or replaces the document of one Observation.
   * @param document - The full document; fields absent from it are removed from the stored one.
   */
  async upsertResult(document: AiResultDocument): Promise<void> {
    // FerretDB 1.24 on SQLite finds a filter on `_id` alone by its primary key, but it scans and decodes
    // the collection for a filter on another field. `npx tsx bench/ai-results-upsert-probe.ts` measured this
    // upsert at 478 ms p50 by observationId and 31 ms by `_id` (2 CPUs under load).
    const keyed = { ...document, _id: document.observationId };
    try {
      await this.results.replaceOne({ _id: document.observationId }, keyed, { upsert: true });
    } catch (error) {
      if (!(error instanceof MongoServerError) || error.code !== DUPLICATE_KEY_CODE) {
        throw error;
      }

      // The observationId is already stored under an ObjectId, by a version that did not key by `_id`.
      // Callers leave `_id` out of the document, so the stored `_id` stays as it is.
      await this.results.replaceOne({ observationId: document.observationId }, document);
    }
  }

  /**
   * Lists the model versions with analysed results in a window.
   * @param modelId - Model id.
   * @param window - Window key.
   * @returns Distinct model versions.
   */
  async modelVersionsInWindow(modelId: string, window: string): Promise<string[]> {
    const versions = await this.results.distinct('modelVersion', { modelId, window, status: 'analyzed' });
    return versions.filter((version): version is string => typeof version === 'string').sort();
  }

  /**
   * Lists the windows with analysed results of a model version, ascending by key.
   * @returns Window keys such as `2026-03-14`.
   */
  async windows(modelId: string, modelVersion: string): Promise<string[]> {
    const windows = await this.results.distinct('window', { modelId, modelVersion, status: 'analyzed' });
    return windows.filter((window): window is string => typeof window === 'string').sort();
  }

  /**
   * Reads the analysed results of a model version in the given windows.
   * @returns The results, in no particular order.
   */
  async resultsIn(
    modelId: string,
    modelVersion: string,
    windows: readonly string[]
  ): Promise<WindowResult[]> {
    const documents = await this.results
      .find(
        { modelId, modelVersion, window: { $in: [...windows] }, status: 'analyzed' },
        {
          projection: {
            _id: 0,
            observationId: 1,
            patientId: 1,
            score: 1,
            entropy: 1,
            effective: 1,
            mcMutualInformation: 1,
          },
        }
      )
      .toArray();

    const results: WindowResult[] = [];
    for (const document of documents) {
      if (typeof document.score === 'number' && typeof document.entropy === 'number') {
        results.push({
          observationId: document.observationId,
          patientId: document.patientId,
          score: document.score,
          entropy: document.entropy,
          effective: document.effective,
          ...(typeof document.mcMutualInformation === 'number'
            ? { mcMutualInformation: document.mcMutualInformation }
            : {}),
        });
      }
    }
    return results;
  }

  /**
   * Reads the analysed results of a model version in the given windows with their inputs, sorted by effective
   * time and then Observation id, so size and count chunks are stable.
   */
  async featureRowsIn(
    modelId: string,
    modelVersion: string,
    windows: readonly string[]
  ): Promise<FeatureRow[]> {
    const documents = await this.results
      .find(
        { modelId, modelVersion, window: { $in: [...windows] }, status: 'analyzed' },
        { projection: { _id: 0, observationId: 1, score: 1, entropy: 1, effective: 1, features: 1 } }
      )
      .sort({ effective: 1, observationId: 1 })
      .toArray();

    const rows: FeatureRow[] = [];
    for (const document of documents) {
      if (typeof document.score === 'number' && typeof document.entropy === 'number') {
        rows.push({
          observationId: document.observationId,
          score: document.score,
          entropy: document.entropy,
          effective: document.effective,
          features: document.features ?? {},
        });
      }
    }
    return rows;
  }

  /**
   * Summarises a window's documents as count and latest analysis time. The drift evaluation compares it
   * before and after, to notice results that arrived while it ran.
   * @returns A string that changes whenever a result is added or re-analysed.
   */
  async windowFingerprint(modelId: string, modelVersion: string, window: string): Promise<string> {
    const documents = await this.results
      .find({ modelId, modelVersion, window, status: 'analyzed' }, { projection: { _id: 0, analyzedAt: 1 } })
      .toArray();
    const latest = Math.max(0, ...documents.map((document) => document.analyzedAt.getTime()));
    return `${documents.length}@${latest}`;
  }

  /**
   * Inserts or updates one metric document.
   * @param document - Key and values.
   */
  async upsertMetric(document: MetricDocument): Promise<void> {
    const key: MetricKey = {
      modelId: document.modelId,
      modelVersion: document.modelVersion,
      metric: document.metric,
      subgroup: document.subgroup,
      window: document.window,
    };

    try {
      await this.metrics.replaceOne(key, document, { upsert: true });
    } catch (err) {
      // Two upserts of a new key can race: both miss, one inserts, and the other fails on the unique
      // index. The key exists now, so the second attempt replaces it.
      if (!(err instanceof MongoServerError) || err.code !== DUPLICATE_KEY_CODE) {
        throw err;
      }
      await this.metrics.replaceOne(key, document, { upsert: true });
    }
  }

  /**
   * Reads one metric document.
   * @returns The document, or undefined when it was not computed yet.
   */
  async findMetric(
    modelId: string,
    modelVersion: string,
    metric: MetricName,
    window: string
  ): Promise<MetricDocument | undefined> {
    const document = await this.metrics.findOne(
      { modelId, modelVersion, metric, subgroup: 'all', window },
      { projection: { _id: 0 } }
    );
    return document ?? undefined;
  }

  /** Reads the model Device id recorded with any analysed result of a model version in a window. */
  async deviceIdIn(modelId: string, modelVersion: string, window: string): Promise<string | undefined> {
    const result = await this.results.findOne(
      { modelId, modelVersion, window, deviceId: { $exists: true } },
      { projection: { _id: 0, deviceId: 1 } }
    );
    return result?.deviceId;
  }

  /** Reads every metric document of a model version in one window, all metrics and subgroups. */
  async metricsInWindow(modelId: string, modelVersion: string, window: string): Promise<MetricDocument[]> {
    return this.metrics.find({ modelId, modelVersion, window }, { projection: { _id: 0 } }).toArray();
  }
}
