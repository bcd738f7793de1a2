/**
 * The evaluation query: models × metrics × subgroups × windows, with a time range, over the metric documents
 * of production windows and of reference profiles, in one row shape. It uses plain finds on indexed fields,
 * so dashboards need no $lookup, $facet or accumulators.
 */
import { COLLECTIONS } from '@monitormed/common';
import type { Db, Filter } from 'mongodb';
import type { MetricDocument } from './documents.js';
import { REFERENCE_WINDOW, type Granularity } from './evaluation-documents.js';

/** Filters of {@link queryEvaluation}; an absent filter matches everything. */
export interface EvaluationQuery {
  modelIds?: readonly string[];
  modelVersions?: readonly string[];
  metrics?: readonly string[];
  subgroups?: readonly string[];
  /** Window granularity of the production rows; defaults to `day`. */
  granularity?: Exclude<Granularity, 'reference' | 'reference-chunk'>;
  /** Window keys of the production rows. */
  windows?: readonly string[];
  /** Production windows starting at or after this time. */
  from?: Date;
  /** Production windows starting before this time. */
  to?: Date;
  /** Adds the reference profile's rows (window `reference`) of the same models, metrics and subgroups. */
  includeReference?: boolean;
}

/** One metric value of one window, production or reference. */
export interface EvaluationRow {
  modelId: string;
  modelVersion: string;
  metric: string;
  subgroup: string;
  granularity: Granularity;
  window: string;
  /** Start of the window; null for the reference profile. */
  windowStart: Date | null;
  value: number | null;
  n: number;
  /** Drift metrics: whether drift was detected, and the window status. */
  detected: boolean | null;
  status: string | null;
}

function keyFilter(query: EvaluationQuery): Filter<MetricDocument> {
  const filter: Record<string, unknown> = {};
  const lists: [string, readonly string[] | undefined][] = [
    ['modelId', query.modelIds],
    ['modelVersion', query.modelVersions],
    ['metric', query.metrics],
    ['subgroup', query.subgroups],
  ];
  for (const [field, values] of lists) {
    if (values !== undefined) {
      filter[field] = { $in: [...values] };
    }
  }
  return filter;
}

function toRow(document: MetricDocument): EvaluationRow {
  return {
    modelId: document.modelId,
    modelVersion: document.modelVersion,
    metric: document.metric,
    subgroup: document.subgroup,
    granularity: document.granularity ?? 'day',
    window: document.window,
    windowStart: document.windowStart ?? null,
    value: document.value,
    n: document.n,
    detected: document.detected ?? null,
    status: document.status ?? null,
  };
}

/**
 * Reads metric rows. Production rows come sorted by model, version, metric, subgroup and window start; the
 * reference rows, when requested, come first for each model version.
 * @param db - The MonitorMed database.
 * @param query - Filters.
 * @returns The matching rows.
 */
export async function queryEvaluation(db: Db, query: EvaluationQuery): Promise<EvaluationRow[]> {
  const metrics = db.collection<MetricDocument>(COLLECTIONS.metrics);
  const granularity = query.granularity ?? 'day';
  const sort = { modelId: 1, modelVersion: 1, metric: 1, subgroup: 1, windowStart: 1, window: 1 } as const;

  const production: Record<string, unknown> = { ...keyFilter(query), granularity };
  if (query.windows !== undefined) {
    production['window'] = { $in: [...query.windows] };
  }
  if (query.from !== undefined || query.to !== undefined) {
    production['windowStart'] = {
      ...(query.from === undefined ? {} : { $gte: query.from }),
      ...(query.to === undefined ? {} : { $lt: query.to }),
    };
  }
  const productionRows = (
    await metrics
      .find(production as Filter<MetricDocument>, { projection: { _id: 0 } })
      .sort(sort)
      .toArray()
  ).map(toRow);
  if (query.includeReference !== true) {
    return productionRows;
  }

  // Two finds rather than one $or, so each uses its own index prefix on FerretDB.
  const referenceRows = (
    await metrics
      .find(
        { ...keyFilter(query), granularity: 'reference', window: REFERENCE_WINDOW },
        { projection: { _id: 0 } }
      )
      .sort(sort)
      .toArray()
  ).map(toRow);
  const byVersion = (row: EvaluationRow): string => `${row.modelId}\u0000${row.modelVersion}`;
  const versions = [...new Set([...referenceRows, ...productionRows].map(byVersion))].sort();
  return versions.flatMap((version) => [
    ...referenceRows.filter((row) => byVersion(row) === version),
    ...productionRows.filter((row) => byVersion(row) === version),
  ]);
}
