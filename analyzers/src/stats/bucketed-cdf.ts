/**
 * The two-sample KS statistic D = max |F1 − F2| and the first Wasserstein distance W1 = ∫ |F1 − F2| dx of two
 * unsorted samples, exact and without sorting them whole.
 *
 * Both samples are summarized over equal-width buckets of their joint range: per bucket the count, the
 * smallest and largest value and Σ (x − left edge) of each sample. With d = F1 − F2, the bucket summaries give
 * d after every bucket exactly (i/n1 − j/n2, the differences scipy computes), and bound d inside a bucket
 * between d0 − c/n2 and d0 + r/n1, where d0 is d before the bucket and r, c are its counts. Inside a bucket where
 * d keeps one sign, ∫ d over [first, last] = d0·(last − first) + Σ_ref (last − x)/n1 − Σ_cur (last − y)/n2
 * follows from the sums. Only the buckets where d may change sign, or may exceed the largest |d| seen at bucket
 * ends, are sorted and walked value by value. For continuous data these are a small share of the values.
 */
import { CompensatedSum } from './compensated-sum.js';

// Average values per bucket. Smaller buckets leave fewer values to sort where a bucket is walked, and
// MAX_BUCKETS keeps the summary arrays small.
const VALUES_PER_BUCKET = 32;
const MAX_BUCKETS = 1 << 16;

// Bucket bounds are compared with a margin far above float rounding, so a bucket is never skipped by rounding.
const BOUND_MARGIN = 1e-12;

/** D and W1 of two samples. */
export interface CdfDistances {
  /** max |F1 − F2| over the pooled values. */
  ksStatistic: number;
  /** ∫ |F1 − F2| dx over the pooled range. */
  wasserstein: number;
}

/** Per-bucket summary of one sample. */
interface SampleBuckets {
  counts: Float64Array;
  /** Σ (x − left edge of the bucket). */
  offsetSums: Float64Array;
}

/**
 * Computes D and W1 of two samples of finite numbers.
 * @param reference - First sample, not empty, in any order.
 * @param current - Second sample, not empty, in any order.
 * @param min - Smallest value of both samples.
 * @param max - Largest value of both samples.
 * @returns D and W1, or null when the range is too wide to split into buckets (max − min overflows).
 */
export function cdfDistances(
  reference: Float64Array,
  current: Float64Array,
  min: number,
  max: number
): CdfDistances | null {
  if (max === min) {
    return { ksStatistic: 0, wasserstein: 0 };
  }
  const n1 = reference.length;
  const n2 = current.length;
  const bucketCount = Math.max(1, Math.min(MAX_BUCKETS, Math.floor((n1 + n2) / VALUES_PER_BUCKET)));
  const scale = bucketCount / (max - min);
  if (!(scale > 0 && Number.isFinite(scale))) {
    return null;
  }
  const edges = Float64Array.from({ length: bucketCount }, (_, bucket) => min + bucket / scale);
  const lowest = new Float64Array(bucketCount).fill(Infinity);
  const highest = new Float64Array(bucketCount).fill(-Infinity);
  const bucketOf = (value: number): number => Math.min(Math.floor((value - min) * scale), bucketCount - 1);
  const first = summarize(reference, edges, lowest, highest, bucketOf);
  const second = summarize(current, edges, lowest, highest, bucketOf);

  // d after each bucket is attained at the bucket's largest value, so it is a candidate for D.
  let maxDifference = 0;
  let minDifference = 0;
  let i = 0;
  let j = 0;
  for (let bucket = 0; bucket < bucketCount; bucket += 1) {
    i += first.counts[bucket] ?? 0;
    j += second.counts[bucket] ?? 0;
    const difference = i / n1 - j / n2;
    maxDifference = Math.max(maxDifference, difference);
    minDifference = Math.min(minDifference, difference);
  }

  // Mark the buckets whose inside must be walked, because d may change sign there or exceed the ends' extremes.
  const walk = new Uint8Array(bucketCount);
  i = 0;
  j = 0;
  for (let bucket = 0; bucket < bucketCount; bucket += 1) {
    const referenceCount = first.counts[bucket] ?? 0;
    const currentCount = second.counts[bucket] ?? 0;
    const before = i / n1 - j / n2;
    const upper = before + referenceCount / n1;
    const lower = before - currentCount / n2;
    const mayChangeSign = lower < BOUND_MARGIN && upper > -BOUND_MARGIN;
    const mayExceed = upper > maxDifference - BOUND_MARGIN || lower < minDifference + BOUND_MARGIN;
    if (referenceCount + currentCount > 1 && (mayChangeSign || mayExceed)) {
      walk[bucket] = 1;
    }
    i += referenceCount;
    j += currentCount;
  }

  const walked = walkBuckets(reference, current, first, second, walk, lowest, bucketOf);
  maxDifference = Math.max(maxDifference, walked.maxDifference);
  minDifference = Math.min(minDifference, walked.minDifference);

  // W1 adds the walked buckets' integrals, the closed form for the other buckets and |d| times each gap.
  const sum = new CompensatedSum();
  let previousHighest = Number.NaN;
  let previousDifference = 0;
  i = 0;
  j = 0;
  for (let bucket = 0; bucket < bucketCount; bucket += 1) {
    const referenceCount = first.counts[bucket] ?? 0;
    const currentCount = second.counts[bucket] ?? 0;
    if (referenceCount + currentCount === 0) {
      continue;
    }
    const low = lowest[bucket] ?? 0;
    const high = highest[bucket] ?? 0;
    if (!Number.isNaN(previousHighest)) {
      sum.add(Math.abs(previousDifference) * (low - previousHighest));
    }
    const before = i / n1 - j / n2;
    if (walk[bucket] === 1) {
      sum.add(walked.integrals.get(bucket) ?? 0);
    } else {
      const edge = edges[bucket] ?? 0;
      const integral =
        before * (high - low) +
        (referenceCount * (high - edge) - (first.offsetSums[bucket] ?? 0)) / n1 -
        (currentCount * (high - edge) - (second.offsetSums[bucket] ?? 0)) / n2;
      sum.add(Math.abs(integral));
    }
    i += referenceCount;
    j += currentCount;
    previousHighest = high;
    previousDifference = i / n1 - j / n2;
  }

  return { ksStatistic: Math.max(maxDifference, -minDifference), wasserstein: sum.total() };
}

function summarize(
  values: Float64Array,
  edges: Float64Array,
  lowest: Float64Array,
  highest: Float64Array,
  bucketOf: (value: number) => number
): SampleBuckets {
  const counts = new Float64Array(edges.length);
  const offsetSums = new Float64Array(edges.length);
  for (let index = 0; index < values.length; index += 1) {
    const value = values[index] ?? 0;
    const bucket = bucketOf(value);
    counts[bucket] = (counts[bucket] ?? 0) + 1;
    offsetSums[bucket] = (offsetSums[bucket] ?? 0) + (value - (edges[bucket] ?? 0));
    if (value < (lowest[bucket] ?? Infinity)) {
      lowest[bucket] = value;
    }
    if (value > (highest[bucket] ?? -Infinity)) {
      highest[bucket] = value;
    }
  }
  return { counts, offsetSums };
}

/**
 * Sorts the values of the marked buckets and walks them as the sorted two-sample walk does.
 * @returns The extremes of d inside them and each bucket's ∫ |d| from its smallest to its largest value.
 */
function walkBuckets(
  reference: Float64Array,
  current: Float64Array,
  first: SampleBuckets,
  second: SampleBuckets,
  walk: Uint8Array,
  lowest: Float64Array,
  bucketOf: (value: number) => number
): { maxDifference: number; minDifference: number; integrals: Map<number, number> } {
  const n1 = reference.length;
  const n2 = current.length;
  const referenceValues = gather(reference, first.counts, walk, bucketOf);
  const currentValues = gather(current, second.counts, walk, bucketOf);

  let maxDifference = 0;
  let minDifference = 0;
  const integrals = new Map<number, number>();
  let i = 0;
  let j = 0;
  for (let bucket = 0; bucket < walk.length; bucket += 1) {
    const referenceCount = first.counts[bucket] ?? 0;
    const currentCount = second.counts[bucket] ?? 0;
    if (walk[bucket] !== 1) {
      i += referenceCount;
      j += currentCount;
      continue;
    }
    const firstSorted = referenceValues.next(referenceCount).sort();
    const secondSorted = currentValues.next(currentCount).sort();
    let p = 0;
    let q = 0;
    let value = lowest[bucket] ?? 0;
    const integral = new CompensatedSum();
    for (;;) {
      while (p < firstSorted.length && (firstSorted[p] ?? Infinity) <= value) {
        p += 1;
      }
      while (q < secondSorted.length && (secondSorted[q] ?? Infinity) <= value) {
        q += 1;
      }
      const difference = (i + p) / n1 - (j + q) / n2;
      maxDifference = Math.max(maxDifference, difference);
      minDifference = Math.min(minDifference, difference);
      if (p === firstSorted.length && q === secondSorted.length) {
        break;
      }
      const next = Math.min(firstSorted[p] ?? Infinity, secondSorted[q] ?? Infinity);
      integral.add(Math.abs(difference) * (next - value));
      value = next;
    }
    integrals.set(bucket, integral.total());
    i += referenceCount;
    j += currentCount;
  }
  return { maxDifference, minDifference, integrals };
}

/** Copies the values of the marked buckets, grouped by bucket in bucket order, and hands them out in turn. */
function gather(
  values: Float64Array,
  counts: Float64Array,
  walk: Uint8Array,
  bucketOf: (value: number) => number
): { next: (count: number) => Float64Array } {
  const starts = new Float64Array(walk.length);
  let total = 0;
  for (let bucket = 0; bucket < walk.length; bucket += 1) {
    starts[bucket] = total;
    if (walk[bucket] === 1) {
      total += counts[bucket] ?? 0;
    }
  }
  const gathered = new Float64Array(total);
  const cursors = starts.slice();
  for (let index = 0; index < values.length; index += 1) {
    const value = values[index] ?? 0;
    const bucket = bucketOf(value);
    if (walk[bucket] === 1) {
      const slot = cursors[bucket] ?? 0;
      gathered[slot] = value;
      cursors[bucket] = slot + 1;
    }
  }
  let offset = 0;
  return {
    next: (count: number) => {
      const slice = gathered.subarray(offset, offset + count);
      offset += count;
      return slice;
    },
  };
}
