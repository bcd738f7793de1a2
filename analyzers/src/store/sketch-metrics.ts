/**
 * Builds the sketches of a set of results (output score, entropy and every input feature) and the metric
 * values that each sketch gives, for windows and reference profiles alike.
 */
import { sketchCategories } from '../sketches/categorical-sketch.js';
import { missingRate, type FeatureSketch } from '../sketches/feature-sketch.js';
import { sketchNumbers } from '../sketches/numeric-sketch.js';
import type { MetricName } from './documents.js';
import { EVALUATION_METRICS, OUTPUT_FEATURES } from './evaluation-documents.js';
import { kindOfValues, UNIT_LAYOUT, type EvaluationStore } from './evaluation-store.js';
import type { FeatureRow } from './results-store.js';

/** Values of one column, keyed by feature name (output pseudo-features included). */
export type ColumnValues = Map<string, (number | string | null)[]>;

/** Columns of result rows: the output score and entropy, then each input feature found in any row. */
export function columnsOfRows(rows: readonly FeatureRow[]): ColumnValues {
  const columns: ColumnValues = new Map();
  columns.set(
    OUTPUT_FEATURES.score,
    rows.map((row) => row.score)
  );
  columns.set(
    OUTPUT_FEATURES.entropy,
    rows.map((row) => row.entropy)
  );
  const names = new Set(rows.flatMap((row) => Object.keys(row.features)));
  for (const name of [...names].sort()) {
    columns.set(
      name,
      rows.map((row) => row.features[name] ?? null)
    );
  }
  return columns;
}

/**
 * Sketches every column: probabilities and entropies on [0, 1], other numerical features on their stored
 * layout, the rest as categories.
 */
export async function sketchColumns(
  store: EvaluationStore,
  modelId: string,
  modelVersion: string,
  columns: ColumnValues
): Promise<Map<string, FeatureSketch>> {
  const sketches = new Map<string, FeatureSketch>();
  for (const [name, values] of columns) {
    const isOutput = name === OUTPUT_FEATURES.score || name === OUTPUT_FEATURES.entropy;
    const present = values.filter(
      (value): value is number => typeof value === 'number' && !Number.isNaN(value)
    );
    if (kindOfValues(values) === 'numeric' && (isOutput || present.length > 0)) {
      const layout = isOutput ? UNIT_LAYOUT : await store.layoutOf(modelId, modelVersion, name, present);
      sketches.set(name, sketchNumbers(values as (number | null)[], layout));
    } else {
      // NOTE: a feature missing in every row of a window has no type to infer and is sketched as categorical.
      // It then does not merge with numeric sketches of the same feature, so the rollup leaves it out.
      sketches.set(name, sketchCategories(values.map((value) => (value === null ? null : String(value)))));
    }
  }
  return sketches;
}

/** One metric value derived from a sketch. */
export interface SketchMetric {
  metric: MetricName;
  value: number | null;
  n: number;
  sum?: number;
}

/** Lists the metrics of one feature's sketch: count and means of the output, mean and missing rate of inputs. */
export function metricsOfSketch(feature: string, sketch: FeatureSketch): SketchMetric[] {
  const total = sketch.count + sketch.missing;
  const mean = sketch.kind === 'numeric' && sketch.count > 0 ? sketch.sum / sketch.count : null;
  const sum = sketch.kind === 'numeric' ? sketch.sum : undefined;

  if (feature === OUTPUT_FEATURES.score) {
    return [
      { metric: EVALUATION_METRICS.resultCount, value: total, n: total },
      {
        metric: EVALUATION_METRICS.scoreMean,
        value: mean,
        n: sketch.count,
        ...(sum === undefined ? {} : { sum }),
      },
    ];
  }
  if (feature === OUTPUT_FEATURES.entropy) {
    return [
      {
        metric: EVALUATION_METRICS.entropyMean,
        value: mean,
        n: sketch.count,
        ...(sum === undefined ? {} : { sum }),
      },
    ];
  }

  const metrics: SketchMetric[] = [
    { metric: `feature-missing-rate:${feature}`, value: missingRate(sketch), n: total },
  ];
  if (sketch.kind === 'numeric') {
    metrics.push({ metric: `feature-mean:${feature}`, value: mean, n: sketch.count, sum: sketch.sum });
  }
  return metrics;
}
