/**
 * Mergeable summary of a numerical feature: counts, moments, a fixed-bin histogram over the reference range,
 * and a quantile summary that keeps the exact sorted values up to {@link EXACT_CAPACITY} and falls back to a
 * fine fixed grid beyond it.
 *
 * Every part merges by addition (or by a sorted union of values), so merge is associative and commutative.
 * Merging two halves gives the sketch of the whole: exactly for counts, histograms, grid and values, and up
 * to floating-point rounding for `sum` and `sumSquares`.
 *
 * NOTE: t-digest and KLL packages on npm were considered, but their merges depend on the order of the inputs
 * (t-digest) or on random compaction (KLL), so merge(a, b) would not equal the sketch of the whole.
 */
import { SketchMismatchError } from './sketch-mismatch-error.js';

/** Values kept exactly per sketch; beyond this count quantiles come from the grid. */
export const EXACT_CAPACITY = 2_000;

/** Cells of the quantile grid over the layout range. */
export const QUANTILE_GRID_CELLS = 1_024;

/** Range and bin count of the histogram; sketches merge only when their layouts are equal. */
export interface HistogramLayout {
  lower: number;
  upper: number;
  bins: number;
}

/** Sketch of one numerical feature in one window or reference. */
export interface NumericSketch {
  kind: 'numeric';
  layout: HistogramLayout;
  /** Non-missing values. */
  count: number;
  /** Missing values (null, undefined or NaN). */
  missing: number;
  sum: number;
  sumSquares: number;
  min: number | null;
  max: number | null;
  /** Counts of the `layout.bins` equal-width bins; the last bin includes `upper`. */
  histogram: number[];
  /** Values below `lower`. */
  underflow: number;
  /** Values above `upper`. */
  overflow: number;
  /** Counts of the {@link QUANTILE_GRID_CELLS} grid cells over the same range. */
  grid: number[];
  /** All values in ascending order while `count` ≤ {@link EXACT_CAPACITY}; null after. */
  values: number[] | null;
}

/**
 * Chooses a layout for a reference sample: its min–max range (widened by 0.5 when all values are equal) and
 * `bins` bins.
 * @throws RangeError when the sample has no finite value or `bins` is not a positive integer.
 */
export function layoutFor(values: readonly number[], bins = 20): HistogramLayout {
  const finite = values.filter((value) => Number.isFinite(value));
  if (finite.length === 0) {
    throw new RangeError('Cannot choose a histogram range without a finite value; provide reference values.');
  }
  if (!Number.isInteger(bins) || bins < 1) {
    throw new RangeError(`Invalid bin count ${String(bins)}: expected a whole number, at least 1.`);
  }

  let lower = Math.min(...finite);
  let upper = Math.max(...finite);
  if (lower === upper) {
    lower -= 0.5;
    upper += 0.5;
  }
  return { lower, upper, bins };
}

/** Creates an empty sketch with a layout. */
export function emptyNumericSketch(layout: HistogramLayout): NumericSketch {
  return {
    kind: 'numeric',
    layout,
    count: 0,
    missing: 0,
    sum: 0,
    sumSquares: 0,
    min: null,
    max: null,
    histogram: new Array<number>(layout.bins).fill(0),
    underflow: 0,
    overflow: 0,
    grid: new Array<number>(QUANTILE_GRID_CELLS).fill(0),
    values: [],
  };
}

function cellOf(value: number, layout: HistogramLayout, cells: number): number {
  const position = Math.floor(((value - layout.lower) / (layout.upper - layout.lower)) * cells);
  return Math.min(cells - 1, Math.max(0, position));
}

/**
 * Builds the sketch of a sample.
 * @param values - The sample; null, undefined and NaN count as missing.
 * @param layout - Histogram range and bins.
 */
export function sketchNumbers(
  values: readonly (number | null | undefined)[],
  layout: HistogramLayout
): NumericSketch {
  const sketch = emptyNumericSketch(layout);
  const present: number[] = [];
  for (const value of values) {
    if (value === null || value === undefined || Number.isNaN(value)) {
      sketch.missing += 1;
      continue;
    }
    present.push(value);
    sketch.count += 1;
    sketch.sum += value;
    sketch.sumSquares += value * value;
    sketch.min = sketch.min === null ? value : Math.min(sketch.min, value);
    sketch.max = sketch.max === null ? value : Math.max(sketch.max, value);
    if (value < layout.lower) {
      sketch.underflow += 1;
    } else if (value > layout.upper) {
      sketch.overflow += 1;
    } else {
      const bin = cellOf(value, layout, layout.bins);
      sketch.histogram[bin] = (sketch.histogram[bin] ?? 0) + 1;
    }
    const cell = cellOf(value, layout, QUANTILE_GRID_CELLS);
    sketch.grid[cell] = (sketch.grid[cell] ?? 0) + 1;
  }
  sketch.values = present.length <= EXACT_CAPACITY ? present.sort((a, b) => a - b) : null;
  return sketch;
}

function sameLayout(a: HistogramLayout, b: HistogramLayout): boolean {
  return a.lower === b.lower && a.upper === b.upper && a.bins === b.bins;
}

function addCounts(a: readonly number[], b: readonly number[]): number[] {
  return a.map((count, index) => count + (b[index] ?? 0));
}

function mergeSorted(a: readonly number[], b: readonly number[]): number[] {
  const merged: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const left = a[i];
    const right = b[j];
    if (right === undefined || (left !== undefined && left <= right)) {
      merged.push(left as number);
      i += 1;
    } else {
      merged.push(right);
      j += 1;
    }
  }
  return merged;
}

function minOf(a: number | null, b: number | null): number | null {
  if (a === null) {
    return b;
  }
  return b === null ? a : Math.min(a, b);
}

function maxOf(a: number | null, b: number | null): number | null {
  if (a === null) {
    return b;
  }
  return b === null ? a : Math.max(a, b);
}

/**
 * Merges two sketches of the same layout.
 * @throws SketchMismatchError when the layouts differ.
 */
export function mergeNumericSketches(a: NumericSketch, b: NumericSketch): NumericSketch {
  if (!sameLayout(a.layout, b.layout)) {
    throw new SketchMismatchError(
      `Cannot merge numeric sketches with layouts [${String(a.layout.lower)}, ${String(a.layout.upper)}]×${String(a.layout.bins)} and [${String(b.layout.lower)}, ${String(b.layout.upper)}]×${String(b.layout.bins)}; build both with the reference layout.`
    );
  }

  const count = a.count + b.count;
  const values =
    a.values !== null && b.values !== null && count <= EXACT_CAPACITY
      ? mergeSorted(a.values, b.values)
      : null;
  return {
    kind: 'numeric',
    layout: a.layout,
    count,
    missing: a.missing + b.missing,
    sum: a.sum + b.sum,
    sumSquares: a.sumSquares + b.sumSquares,
    min: minOf(a.min, b.min),
    max: maxOf(a.max, b.max),
    histogram: addCounts(a.histogram, b.histogram),
    underflow: a.underflow + b.underflow,
    overflow: a.overflow + b.overflow,
    grid: addCounts(a.grid, b.grid),
    values,
  };
}

/**
 * Estimates the q-quantile. While values are kept it is exact: the value at rank ⌈q·n⌉ (lower order
 * statistic). Otherwise it interpolates linearly inside the grid cell. Values outside the layout range sit in
 * the first or last cell and are clamped to `min` and `max`, so those quantiles are coarse.
 * @param q - Quantile in [0, 1].
 * @returns The estimate, or null for an empty sketch.
 */
export function numericQuantile(sketch: NumericSketch, q: number): number | null {
  if (sketch.count === 0 || sketch.min === null || sketch.max === null) {
    return null;
  }
  const rank = Math.max(1, Math.ceil(q * sketch.count));
  if (sketch.values !== null) {
    return sketch.values[rank - 1] ?? null;
  }

  // Underflow values sit in cell 0 of the grid as well, so the grid alone covers every value.
  const { lower, upper } = sketch.layout;
  const width = (upper - lower) / QUANTILE_GRID_CELLS;
  let seen = 0;
  for (const [cell, cellCount] of sketch.grid.entries()) {
    if (seen + cellCount >= rank) {
      const fraction = cellCount === 0 ? 0 : (rank - seen) / cellCount;
      const estimate = lower + (cell + fraction) * width;
      return Math.min(sketch.max, Math.max(sketch.min, estimate));
    }
    seen += cellCount;
  }
  return sketch.max;
}

/**
 * Returns a sample that represents the sketch for the drift tests: the exact values when kept, otherwise
 * `sampleSize` evenly spaced quantiles.
 * NOTE: tests on the quantile sample are approximations; they equal Evidently's values only for exact sketches.
 */
export function representativeSample(sketch: NumericSketch, sampleSize = EXACT_CAPACITY): number[] {
  if (sketch.values !== null) {
    return sketch.values;
  }
  const size = Math.min(sampleSize, sketch.count);
  const sample: number[] = [];
  for (let index = 0; index < size; index += 1) {
    const value = numericQuantile(sketch, (index + 0.5) / size);
    if (value !== null) {
      sample.push(value);
    }
  }
  return sample;
}
