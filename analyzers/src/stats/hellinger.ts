/**
 * Hellinger distance as Evidently 0.7's `hellinger` stattest computes it, H = √(1 − BC) with the Bhattacharyya
 * coefficient BC clipped to [0, 1]:
 * - categorical: BC = Σ √(r_v·c_v) over the distinct values v of both samples (shares of each sample);
 * - numerical: Sturges bin edges over the distinct values of both samples (not over all values), density
 *   histograms h_ref and h_cur on them, and BC = Σ √(h_ref·h_cur)·w with w = (max − min)/bins.
 * Drift when H ≥ threshold (default 0.1).
 */
import { ColumnSamples, type ColumnType, type SampleValues } from './column-samples.js';
import { histogramCounts, sturgesBinEdgesOf } from './psi.js';
import { distinctLowerBound } from './value-counts.js';

/**
 * Computes Evidently's Hellinger distance between two samples.
 * @param reference - Reference sample without missing values, not empty.
 * @param current - Current sample without missing values, not empty.
 * @param columnType - The column's type.
 * @returns The distance, from 0 to 1.
 */
export function hellingerDistance(
  reference: SampleValues,
  current: SampleValues,
  columnType: ColumnType
): number {
  return hellingerDistanceOf(ColumnSamples.of(reference, current, columnType));
}

/**
 * Computes {@link hellingerDistance} from prepared samples.
 * @param samples - The column's samples.
 * @returns The distance, from 0 to 1.
 */
export function hellingerDistanceOf(samples: ColumnSamples): number {
  let coefficient = 0;

  if (samples.columnType === 'categorical') {
    const counts = samples.valueCounts();
    for (const [index, referenceCount] of counts.reference.entries()) {
      const referenceShare = referenceCount / samples.referenceSize;
      const currentShare = (counts.current[index] ?? 0) / samples.currentSize;
      coefficient += Math.sqrt(referenceShare * currentShare);
    }
  } else {
    const { min, max } = samples.range();
    const edges = sturgesBinEdgesOf(distinctCountForBins(samples, min, max), min, max);
    const { reference, current } = samples.numbers();
    const referenceDensity = densityHistogram(reference, edges);
    const currentDensity = densityHistogram(current, edges);
    const binWidth = ((edges.at(-1) ?? 0) - (edges[0] ?? 0)) / (edges.length - 1);
    for (const [bin, referenceValue] of referenceDensity.entries()) {
      coefficient += Math.sqrt(referenceValue * (currentDensity[bin] ?? 0)) * binWidth;
    }
  }

  return Math.sqrt(1 - Math.min(1, Math.max(0, coefficient)));
}

/**
 * Returns the number of distinct values of both samples, or another count that gives the same Sturges bins.
 * Sturges' bin count never decreases as the count grows (log2 and the divisions round monotonically), so when
 * a lower bound and the number of values give the same bins, every count between them does too, and no sort
 * is needed to find the exact one.
 */
function distinctCountForBins(samples: ColumnSamples, min: number, max: number): number {
  const few = samples.fewValueCounts();
  if (few !== null) {
    return few.keys.length;
  }
  const { reference, current } = samples.numbers();
  const upper = reference.length + current.length;
  const lower = distinctLowerBound([reference, current], min, max);
  const binsOf = (count: number): number => sturgesBinEdgesOf(count, min, max).length;
  return binsOf(lower) === binsOf(upper) ? upper : samples.distinctCount();
}

/** Computes numpy.histogram(density=True): count / bin width / counted values, per bin. */
function densityHistogram(values: Float64Array, edges: readonly number[]): number[] {
  const counts = histogramCounts(values, edges);
  const total = counts.reduce((sum, count) => sum + count, 0);
  return counts.map((count, bin) => count / ((edges[bin + 1] ?? 0) - (edges[bin] ?? 0)) / total);
}
