/**
 * Quantiles of a model's output score per window and subgroup, from the `output:score` sketches that the
 * analyzers' rollup stores beside the metrics. They let a dashboard plot the output distribution over
 * time instead of only its mean.
 */
import {
  decodeSketch,
  numericQuantile,
  OUTPUT_FEATURES,
  SKETCHES_COLLECTION,
  type SketchDocument,
  type StoredSketch,
} from '@monitormed/analyzers';
import type { Db, Filter } from 'mongodb';
import type { WindowSelection } from './monitoring-summary.js';

/** Probabilities of the reported quantiles: the 10th, 25th, 50th, 75th and 90th percentiles. */
export const OUTPUT_QUANTILE_PROBABILITIES = [0.1, 0.25, 0.5, 0.75, 0.9] as const;

/** The output quantiles of one window and subgroup. */
export interface OutputQuantiles {
  window: string;
  subgroup: string;
  /** Scores behind the quantiles. */
  n: number;
  /** One value per probability of {@link OUTPUT_QUANTILE_PROBABILITIES}, in that order. */
  quantiles: { probability: number; value: number }[];
}

type StoredSketchDocument = Omit<SketchDocument, 'sketch'> & { sketch: StoredSketch };

/** Builds the key that {@link readOutputQuantiles} indexes its result by. */
export function quantileKey(window: string, subgroup: string): string {
  return `${window}\u0000${subgroup}`;
}

/**
 * Reads the output score quantiles of one model version in the selection's windows. They are exact while
 * a sketch keeps its values (up to 2,000 scores per window) and interpolated on the sketch's grid beyond.
 * @returns The quantiles keyed by {@link quantileKey}; windows without a numeric sketch are left out.
 */
export async function readOutputQuantiles(
  db: Db,
  modelId: string,
  modelVersion: string,
  selection: WindowSelection
): Promise<Map<string, OutputQuantiles>> {
  const filter: Record<string, unknown> = {
    modelId,
    modelVersion,
    feature: OUTPUT_FEATURES.score,
    granularity: selection.granularity,
  };
  if (selection.subgroups !== undefined) {
    filter['subgroup'] = { $in: selection.subgroups };
  }
  if (selection.from !== undefined || selection.to !== undefined) {
    filter['windowStart'] = {
      ...(selection.from === undefined ? {} : { $gte: selection.from }),
      ...(selection.to === undefined ? {} : { $lt: selection.to }),
    };
  }
  const documents = await db
    .collection<StoredSketchDocument>(SKETCHES_COLLECTION)
    .find(filter as Filter<StoredSketchDocument>, { projection: { _id: 0 } })
    .toArray();

  const result = new Map<string, OutputQuantiles>();
  for (const document of documents) {
    const sketch = decodeSketch(document.sketch);
    if (sketch.kind !== 'numeric' || sketch.count === 0) {
      continue;
    }
    const quantiles = OUTPUT_QUANTILE_PROBABILITIES.flatMap((probability) => {
      const value = numericQuantile(sketch, probability);
      return value === null ? [] : [{ probability, value }];
    });
    result.set(quantileKey(document.window, document.subgroup), {
      window: document.window,
      subgroup: document.subgroup,
      n: sketch.count,
      quantiles,
    });
  }
  return result;
}
