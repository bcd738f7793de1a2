/**
 * Hellinger distance as Evidently 0.7's `hellinger` stattest computes it, H = √(1 − BC) with the Bhattacharyya
 * coefficient BC clipped to [0, 1]:
 * - categorical: BC = Σ √(r_v·c_v) over the distinct values v of both samples (shares of each sample);
 * - numerical: Sturges bin edges over the distinct values of both samples (not over all values), density
 *   histograms h_ref and h_cur on them, and BC = Σ √(h_ref·h_cur)·w with w = (max − min)/bins.
 * Drift when H ≥ threshold (default 0.1).
 */
import { countValues, distinctValues, type ColumnType, type ColumnValue } from './binned-shares.js';
import { histogramCounts, sturgesBinEdges } from './psi.js';

/**
 * Computes Evidently's Hellinger distance between two samples.
 * @param reference - Reference sample without missing values, not empty.
 * @param current - Current sample without missing values, not empty.
 * @param columnType - The column's type.
 * @returns The distance, from 0 to 1.
 */
export function hellingerDistance(
  reference: readonly ColumnValue[],
  current: readonly ColumnValue[],
  columnType: ColumnType
): number {
  const keys = distinctValues(reference, current);
  let coefficient = 0;

  if (columnType === 'categorical') {
    const referenceCounts = countValues(reference);
    const currentCounts = countValues(current);
    for (const key of keys) {
      const referenceShare = (referenceCounts.get(key) ?? 0) / reference.length;
      const currentShare = (currentCounts.get(key) ?? 0) / current.length;
      coefficient += Math.sqrt(referenceShare * currentShare);
    }
  } else {
    const edges = sturgesBinEdges(keys.map(Number));
    const referenceDensity = densityHistogram(reference.map(Number), edges);
    const currentDensity = densityHistogram(current.map(Number), edges);
    const binWidth = ((edges.at(-1) ?? 0) - (edges[0] ?? 0)) / (edges.length - 1);
    for (const [bin, referenceValue] of referenceDensity.entries()) {
      coefficient += Math.sqrt(referenceValue * (currentDensity[bin] ?? 0)) * binWidth;
    }
  }

  return Math.sqrt(1 - Math.min(1, Math.max(0, coefficient)));
}

/** Computes numpy.histogram(density=True): count / bin width / counted values, per bin. */
function densityHistogram(values: readonly number[], edges: readonly number[]): number[] {
  const counts = histogramCounts(values, edges);
  const total = counts.reduce((sum, count) => sum + count, 0);
  return counts.map((count, bin) => count / ((edges[bin + 1] ?? 0) - (edges[bin] ?? 0)) / total);
}
