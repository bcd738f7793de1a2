/**
 * MongoDB access of the evaluation store: feature sketches per window, histogram layouts, reference profiles,
 * window metrics, model summaries and retention. Writes use updateOne with $set, $setOnInsert and $max, reads
 * use find and distinct, so the code runs unchanged on MongoDB and FerretDB.
 */
import { COLLECTIONS } from '@monitormed/common';
import type { Collection, Db } from 'mongodb';
import { layoutFor, type HistogramLayout } from '../sketches/numeric-sketch.js';
import type { FeatureSketch } from '../sketches/feature-sketch.js';
import type { MetricDocument, MetricKey } from './documents.js';
import { decodeSketch, encodeSketch, type StoredSketch } from './sketch-codec.js';
import {
  FEATURE_LAYOUTS_COLLECTION,
  MODEL_SUMMARIES_COLLECTION,
  REFERENCE_PROFILES_COLLECTION,
  SKETCHES_COLLECTION,
  type Granularity,
  type ModelSummaryDocument,
  type ReferenceProfileDocument,
  type SketchDocument,
} from './evaluation-documents.js';

/** Histogram bins of every numerical feature sketch. */
export const HISTOGRAM_BINS = 20;

/** Histogram layout of probabilities and binary entropies, which both lie in [0, 1]. */
export const UNIT_LAYOUT: HistogramLayout = { lower: 0, upper: 1, bins: HISTOGRAM_BINS };

/** Stored histogram layout of one numerical feature. */
interface FeatureLayoutDocument {
  _id: string;
  layout: HistogramLayout;
  createdAt: Date;
}

/** A sketch document in its storage form. */
type StoredSketchDocument = Omit<SketchDocument, 'sketch'> & { sketch: StoredSketch };

/** Filter of {@link EvaluationStore.findSketches}. */
export interface SketchFilter {
  modelId: string;
  modelVersion: string;
  granularity: Granularity;
  subgroup?: string;
  feature?: string;
  /** Window keys; all windows when absent. */
  windows?: readonly string[];
  /** Windows starting at or after this time. */
  from?: Date;
  /** Windows starting before this time. */
  to?: Date;
}

/** Max age of stored windows per granularity, in days. The reference profile and its chunks are never deleted. */
export type RetentionDays = Record<Exclude<Granularity, 'reference' | 'reference-chunk'>, number>;

/** Typed access to the evaluation store's collections. */
export class EvaluationStore {
  private readonly sketches: Collection<StoredSketchDocument>;
  private readonly layouts: Collection<FeatureLayoutDocument>;
  private readonly profiles: Collection<ReferenceProfileDocument>;
  private readonly summaries: Collection<ModelSummaryDocument>;
  private readonly metrics: Collection<MetricDocument>;

  constructor(db: Db) {
    this.sketches = db.collection<StoredSketchDocument>(SKETCHES_COLLECTION);
    this.layouts = db.collection<FeatureLayoutDocument>(FEATURE_LAYOUTS_COLLECTION);
    this.profiles = db.collection<ReferenceProfileDocument>(REFERENCE_PROFILES_COLLECTION);
    this.summaries = db.collection<ModelSummaryDocument>(MODEL_SUMMARIES_COLLECTION);
    this.metrics = db.collection<MetricDocument>(COLLECTIONS.metrics);
  }

  /** Creates the unique keys and the time indexes used by queries and retention; safe to repeat. */
  async ensureIndexes(): Promise<void> {
    await this.sketches.createIndex(
      { modelId: 1, modelVersion: 1, feature: 1, subgroup: 1, granularity: 1, window: 1 },
      { unique: true, name: 'sketch_key_unique' },
      undefined
    );
    await this.sketches.createIndex(
      { granularity: 1, windowStart: 1 },
      { name: 'granularity_start' },
      undefined
    );
    await this.metrics.createIndex(
      { granularity: 1, windowStart: 1 },
      { name: 'granularity_start' },
      undefined
    );
  }

  /**
   * Returns the histogram layout of a numerical feature: the stored one, or `values`' range stored now. The
   * first writer wins ($setOnInsert), so every window and the reference share one layout and merge.
   * @param values - Values to choose the range from when no layout is stored yet.
   */
  async layoutOf(
    modelId: string,
    modelVersion: string,
    feature: string,
    values: readonly number[]
  ): Promise<HistogramLayout> {
    const _id = `${modelId}|${modelVersion}|${feature}`;
    const stored = await this.layouts.findOneAndUpdate(
      { _id },
      { $setOnInsert: { layout: layoutFor(values, HISTOGRAM_BINS), createdAt: new Date() } },
      { upsert: true, returnDocument: 'after' }
    );
    if (stored === null) {
      throw new Error(`MongoDB returned no layout for ${_id} after an upsert.`);
    }
    return stored.layout;
  }

  /**
   * Inserts or replaces sketches in one round trip: a batch of updateOne upserts, which FerretDB runs like
   * single updateOne calls.
   */
  async upsertSketches(documents: readonly SketchDocument[]): Promise<void> {
    if (documents.length === 0) {
      return;
    }
    await this.sketches.bulkWrite(
      documents.map((document) => {
        const { modelId, modelVersion, feature, subgroup, granularity, window } = document;
        return {
          updateOne: {
            filter: { modelId, modelVersion, feature, subgroup, granularity, window },
            update: {
              $set: {
                windowStart: document.windowStart,
                sketch: encodeSketch(document.sketch),
                updatedAt: document.updatedAt,
              },
            },
            upsert: true,
          },
        };
      }),
      { ordered: false }
    );
  }

  /** Inserts or replaces the sketch of one key. */
  async upsertSketch(document: SketchDocument): Promise<void> {
    const { modelId, modelVersion, feature, subgroup, granularity, window } = document;
    await this.sketches.updateOne(
      { modelId, modelVersion, feature, subgroup, granularity, window },
      {
        $set: {
          windowStart: document.windowStart,
          sketch: encodeSketch(document.sketch),
          updatedAt: document.updatedAt,
        },
      },
      { upsert: true }
    );
  }

  /** Reads sketches, sorted by window start and feature. */
  async findSketches(filter: SketchFilter): Promise<SketchDocument[]> {
    const query: Record<string, unknown> = {
      modelId: filter.modelId,
      modelVersion: filter.modelVersion,
      granularity: filter.granularity,
    };
    if (filter.subgroup !== undefined) {
      query['subgroup'] = filter.subgroup;
    }
    if (filter.feature !== undefined) {
      query['feature'] = filter.feature;
    }
    if (filter.windows !== undefined) {
      query['window'] = { $in: [...filter.windows] };
    }
    if (filter.from !== undefined || filter.to !== undefined) {
      query['windowStart'] = {
        ...(filter.from === undefined ? {} : { $gte: filter.from }),
        ...(filter.to === undefined ? {} : { $lt: filter.to }),
      };
    }
    const documents = await this.sketches
      .find(query, { projection: { _id: 0 } })
      .sort({ windowStart: 1, feature: 1 })
      .toArray();
    return documents.map((document) => ({ ...document, sketch: decodeSketch(document.sketch) }));
  }

  /** Lists the window keys of a granularity with sketches, ascending. */
  async sketchWindows(modelId: string, modelVersion: string, granularity: Granularity): Promise<string[]> {
    const windows = await this.sketches.distinct('window', { modelId, modelVersion, granularity });
    return windows.filter((window): window is string => typeof window === 'string').sort();
  }

  /** Inserts or updates metric documents with $set in one round trip (see {@link upsertMetric}). */
  async upsertMetrics(documents: readonly MetricDocument[]): Promise<void> {
    if (documents.length === 0) {
      return;
    }
    await this.metrics.bulkWrite(
      documents.map((document) => ({
        updateOne: { filter: metricKeyOf(document), update: { $set: finiteFields(document) }, upsert: true },
      })),
      { ordered: false }
    );
  }

  /** Inserts or updates one metric document with $set. */
  async upsertMetric(document: MetricDocument): Promise<void> {
    await this.metrics.updateOne(metricKeyOf(document), { $set: finiteFields(document) }, { upsert: true });
  }

  /** Stores a reference profile's description; its sketches are written with {@link upsertSketch}. */
  async saveReferenceProfile(profile: ReferenceProfileDocument): Promise<void> {
    const { _id, ...fields } = profile;
    await this.profiles.updateOne({ _id }, { $set: fields }, { upsert: true });
    await this.summaries.updateOne({ _id }, { $set: { hasReferenceProfile: true } });
  }

  /** Reads a model version's reference profile description, or returns undefined. */
  async findReferenceProfile(
    modelId: string,
    modelVersion: string
  ): Promise<ReferenceProfileDocument | undefined> {
    return (await this.profiles.findOne({ _id: `${modelId}|${modelVersion}` })) ?? undefined;
  }

  /** Updates the dashboard summary of a model version after a rollup of `window`. */
  async updateSummary(modelId: string, modelVersion: string, window: string, count: number): Promise<void> {
    const windows = await this.sketchWindows(modelId, modelVersion, 'day');
    const hasReferenceProfile = (await this.findReferenceProfile(modelId, modelVersion)) !== undefined;
    const _id = `${modelId}|${modelVersion}`;

    // $max keeps the latest window when rollups of older days finish later.
    await this.summaries.updateOne(
      { _id },
      {
        $set: { modelId, modelVersion, windows: windows.length, hasReferenceProfile, updatedAt: new Date() },
        $max: { latestWindow: window },
      },
      { upsert: true }
    );
    await this.summaries.updateOne({ _id, latestWindow: window }, { $set: { latestWindowCount: count } });
  }

  /** Reads the dashboard summaries of every model version, sorted by model and version. */
  async summariesOf(modelIds?: readonly string[]): Promise<ModelSummaryDocument[]> {
    const filter = modelIds === undefined ? {} : { modelId: { $in: [...modelIds] } };
    return this.summaries.find(filter).sort({ modelId: 1, modelVersion: 1 }).toArray();
  }

  /**
   * Deletes windows older than their granularity's max age: metric documents and sketches whose window
   * started before `now` minus the age. FerretDB has no TTL indexes, so the retention job runs this.
   * @returns Deleted documents per granularity.
   */
  async deleteExpired(now: Date, retentionDays: RetentionDays): Promise<Record<string, number>> {
    const deleted: Record<string, number> = {};
    for (const [granularity, days] of Object.entries(retentionDays) as [Granularity, number][]) {
      const cutoff = new Date(now.getTime() - days * 24 * 3600 * 1000);
      const metrics = await this.metrics.deleteMany({ granularity, windowStart: { $lt: cutoff } });
      const sketches = await this.sketches.deleteMany({ granularity, windowStart: { $lt: cutoff } });
      deleted[granularity] = metrics.deletedCount + sketches.deletedCount;
    }
    return deleted;
  }
}

function metricKeyOf(document: MetricDocument): MetricKey {
  return {
    modelId: document.modelId,
    modelVersion: document.modelVersion,
    metric: document.metric,
    subgroup: document.subgroup,
    window: document.window,
  };
}

/**
 * Replaces non-finite numbers by null, because FerretDB 1.24 rejects infinite numbers (a chi-square
 * statistic with an unseen category is +Inf). $set of the whole document also sets the key fields, to the
 * values they already have.
 */
function finiteFields(document: MetricDocument): MetricDocument {
  return Object.fromEntries(
    Object.entries(document).map(([field, value]) => [
      field,
      typeof value === 'number' && !Number.isFinite(value) ? null : value,
    ])
  ) as MetricDocument;
}

/** Infers the kind of a feature's values: numeric when every present value is a number. */
export function kindOfValues(values: readonly (number | string | null | undefined)[]): FeatureSketch['kind'] {
  return values.every((value) => value === null || value === undefined || typeof value === 'number')
    ? 'numeric'
    : 'categorical';
}
