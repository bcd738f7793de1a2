/**
 * Population Stability Index as Evidently (0.4+, stattest `psi`) computes it for a numerical column:
 * bin edges from numpy's `histogram_bin_edges(reference ∪ current, bins='sturges')`, the share of each sample
 * per bin, empty shares replaced by 0.0001, then PSI = Σ (ref − cur) · ln(ref / cur).
 *
 * NOTE: Evidently switches to per-value (categorical) shares when the reference has 20 or fewer distinct
 * values; this module always bins, because model scores are continuous.
 */

/** Share used for an empty bin, so the logarithm stays finite (Evidently's value). */
export const PSI_EMPTY_BIN_SHARE = 0.0001;

/** PSI and the bins it used. */
export interface PsiResult {
  /** The index; Evidently's default drift threshold for it is 0.1. */
  value: number;
  /** Bin edges, ascending; the last bin includes its upper edge. */
  binEdges: number[];
  /** Share of the reference sample in each bin, after empty bins were filled. */
  referenceShares: number[];
  /** Share of the current sample in each bin, after empty bins were filled. */
  currentShares: number[];
}

/**
 * Computes the PSI of `current` against `reference`.
 * @param reference - Reference sample.
 * @param current - Current sample.
 * @returns The index with its bins.
 * @throws RangeError when a sample is empty or contains a value that is not a finite number.
 */
export function populationStabilityIndex(
  reference: readonly number[],
  current: readonly number[]
): PsiResult {
  assertSample(reference, 'reference');
  assertSample(current, 'current');

  const binEdges = sturgesBinEdges([...reference, ...current]);
  const referenceShares = binShares(reference, binEdges);
  const currentShares = binShares(current, binEdges);

  let value = 0;
  for (const [bin, referenceShare] of referenceShares.entries()) {
    const currentShare = currentShares[bin] ?? PSI_EMPTY_BIN_SHARE;
    value += (referenceShare - currentShare) * Math.log(referenceShare / currentShare);
  }
  return { value, binEdges, referenceShares, currentShares };
}

/**
 * Computes equal-width bin edges with Sturges' rule the way numpy 1.x/2.x does: width = range/(log2(n) + 1),
 * bin count = ceil(range/width), edges = start + k·step with the last edge set to the maximum.
 * @param values - The pooled sample, not empty.
 * @returns The bin edges.
 */
export function sturgesBinEdges(values: ArrayLike<number>): number[] {
  // A loop, not Math.min(...values): spreading a million arguments overflows the call stack.
  let min = Infinity;
  let max = -Infinity;
  for (let index = 0; index < values.length; index += 1) {
    const value = values[index] ?? 0;
    min = Math.min(min, value);
    max = Math.max(max, value);
  }
  return sturgesBinEdgesOf(values.length, min, max);
}

/**
 * Computes {@link sturgesBinEdges} from the pooled sample's size and range alone.
 * @param count - Number of pooled values, at least 1.
 * @param min - Smallest pooled value.
 * @param max - Largest pooled value.
 * @returns The bin edges.
 */
export function sturgesBinEdgesOf(count: number, min: number, max: number): number[] {
  let first = min;
  let last = max;
  const range = last - first;

  // numpy keeps two divisions here; the float result can exceed the integer log2(n) + 1 and add a bin.
  const width = range / (Math.log2(count) + 1);
  const binCount = width > 0 ? Math.ceil(range / width) : 1;

  if (first === last) {
    first -= 0.5;
    last += 0.5;
  }

  const step = (last - first) / binCount;
  const edges: number[] = [];
  for (let k = 0; k < binCount; k += 1) {
    edges.push(first + k * step);
  }
  edges.push(last);
  return edges;
}

/** Computes per-bin shares from {@link histogramCounts}, with empty bins set to {@link PSI_EMPTY_BIN_SHARE}. */
function binShares(values: readonly number[], edges: readonly number[]): number[] {
  return histogramCounts(values, edges).map((count) => {
    const share = count / values.length;
    return share === 0 ? PSI_EMPTY_BIN_SHARE : share;
  });
}

/**
 * Counts values per bin as numpy.histogram does: bins [e_k, e_k+1) and a closed last bin; values outside the
 * edges are not counted.
 * @param values - The sample.
 * @param edges - Ascending bin edges, at least two.
 * @returns One count per bin.
 */
export function histogramCounts(values: ArrayLike<number>, edges: readonly number[]): number[] {
  const binCount = edges.length - 1;
  const edgeArray = Float64Array.from(edges);
  const counts = new Float64Array(binCount);
  const first = edgeArray[0] ?? 0;
  const last = edgeArray[binCount] ?? 0;
  const range = last - first;

  for (let index = 0; index < values.length; index += 1) {
    const value = values[index] ?? Number.NaN;
    if (!(value >= first && value <= last)) {
      continue;
    }

    // Estimate the bin with numpy's arithmetic, then correct it against the stored edges like numpy does.
    let bin = Math.min(Math.floor(((value - first) / range) * binCount), binCount - 1);
    if (value < (edgeArray[bin] ?? -Infinity)) {
      bin -= 1;
    }
    if (bin !== binCount - 1 && value >= (edgeArray[bin + 1] ?? Infinity)) {
      bin += 1;
    }
    counts[bin] = (counts[bin] ?? 0) + 1;
  }
  return Array.from(counts);
}

function assertSample(sample: readonly number[], name: string): void {
  if (sample.length === 0) {
    throw new RangeError(`Invalid ${name} sample: PSI needs at least one value.`);
  }
  for (const value of sample) {
    if (!Number.isFinite(value)) {
      throw new RangeError(`Invalid ${name} sample: value ${String(value)} is not a finite number.`);
    }
  }
}
