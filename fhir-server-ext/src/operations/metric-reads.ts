/**
 * Reads metric values of one model version from the analyzers' evaluation store: the rows of
 * `queryEvaluation`, with the threshold, test and statistic that the rows leave out, read from the same
 * metric documents.
 */
import { queryEvaluation, type EvaluationQuery, type MetricDocument } from '@monitormed/analyzers';
import { COLLECTIONS } from '@monitormed/common';
import type { Db, Filter } from 'mongodb';
import type { MetricValue } from './metric-status.js';

function keyOf(value: { metric: string; subgroup: string; window: string }): string {
  return `${value.metric}\u0000${value.subgroup}\u0000${value.window}`;
}

/**
 * Reads the metric values of one model version.
 * @param db - The MonitorMed database.
 * @param query - Filters; `modelIds` and `modelVersions` should name one model version.
 * @returns The values, sorted by metric, subgroup and window start as `queryEvaluation` returns them.
 */
export async function readMetricValues(db: Db, query: EvaluationQuery): Promise<MetricValue[]> {
  const rows = await queryEvaluation(db, query);
  if (rows.length === 0) {
    return [];
  }

  // queryEvaluation's rows carry no threshold, test or statistic, so they are read with one more find
  // on the same indexed keys and joined in memory.
  const filter: Record<string, unknown> = {
    modelId: { $in: [...new Set(rows.map((row) => row.modelId))] },
    modelVersion: { $in: [...new Set(rows.map((row) => row.modelVersion))] },
    metric: { $in: [...new Set(rows.map((row) => row.metric))] },
    window: { $in: [...new Set(rows.map((row) => row.window))] },
  };
  // Performance documents add a 95% interval (`lower`, `upper`) to the metric document fields.
  const documents = await db
    .collection<MetricDocument & { lower?: number | null; upper?: number | null }>(COLLECTIONS.metrics)
    .find(filter as Filter<MetricDocument & { lower?: number | null; upper?: number | null }>, {
      projection: {
        _id: 0,
        metric: 1,
        subgroup: 1,
        window: 1,
        threshold: 1,
        test: 1,
        statistic: 1,
        lower: 1,
        upper: 1,
      },
    })
    .toArray();
  const details = new Map(documents.map((document) => [keyOf(document), document]));

  return rows.map((row) => {
    const detail = details.get(keyOf(row));
    return {
      ...row,
      threshold: detail?.threshold ?? null,
      test: detail?.test ?? null,
      statistic: detail?.statistic ?? null,
      lower: detail?.lower ?? null,
      upper: detail?.upper ?? null,
    };
  });
}
