/**
 * The reference and current samples of one column, prepared once so that every drift test on the column
 * shares one count of values, one range, one set of CDF distances and at most one sort. Numbers are kept in
 * Float64Arrays. With few distinct values they are counted in a hash table and the tests run on the counts.
 * Otherwise KS and Wasserstein come from bucket summaries (bucketed-cdf.ts), and a test that needs the sorted
 * samples sorts each once with the radix sort of float64-sort.ts. Either way a column of a million values
 * costs a few linear passes and no boxed numbers. Text values (categorical columns) are counted with a Map.
 */
import { cdfDistances, type CdfDistances } from './bucketed-cdf.js';
import { sortFloat64 } from './float64-sort.js';
import {
  countNumbers,
  countSortedRuns,
  countSortedUnion,
  countText,
  sortedValueCounts,
  type ColumnValue,
  type ValueCounts,
} from './value-counts.js';

export type { ColumnValue, ValueCounts } from './value-counts.js';

/** Column types that Evidently's drift tests distinguish. */
export type ColumnType = 'numerical' | 'categorical';

/** Values of one sample without missing values: numbers in a Float64Array, or any values in an array. */
export type SampleValues = readonly ColumnValue[] | Float64Array;

/** Reference and current numbers of a column. */
export interface NumberPair {
  reference: Float64Array;
  current: Float64Array;
}

/**
 * Largest number of distinct numbers counted by hashing. Up to it the tests work on the counts and sort no
 * sample. The hash table then has 16,384 slots (64 KiB), small enough to stay in the CPU cache.
 */
export const MAX_KEYS_COUNTED_BY_HASH = 8192;

/** Prepared samples of one column. Every derived value is computed on first use and then kept. */
export class ColumnSamples {
  readonly columnType: ColumnType;
  readonly referenceSize: number;
  readonly currentSize: number;
  private readonly numberPair: NumberPair | null;
  private readonly textPair: { reference: readonly ColumnValue[]; current: readonly ColumnValue[] } | null;
  private sortedPair: NumberPair | null = null;
  private counts: ValueCounts | null = null;
  // Undefined until hashed, and null when the samples have too many distinct numbers for the hash table.
  private hashedCounts: ValueCounts | null | undefined = undefined;
  private distances: CdfDistances | null | undefined = undefined;

  private constructor(columnType: ColumnType, numbers: NumberPair | null, text: ColumnSamples['textPair']) {
    this.columnType = columnType;
    this.numberPair = numbers;
    this.textPair = text;
    const pair = numbers ?? text;
    this.referenceSize = pair?.reference.length ?? 0;
    this.currentSize = pair?.current.length ?? 0;
  }

  /**
   * Prepares two samples. Samples whose values are all numbers take the numeric path, whatever the column type.
   * @param reference - Reference sample without missing values, not empty.
   * @param current - Current sample without missing values, not empty.
   * @param columnType - The column's type.
   * @returns The prepared samples.
   * @throws RangeError when a sample is empty, or a numeric sample contains NaN or ±Infinity.
   */
  static of(reference: SampleValues, current: SampleValues, columnType: ColumnType): ColumnSamples {
    if (reference.length === 0 || current.length === 0) {
      const sample = reference.length === 0 ? 'reference' : 'current';
      throw new RangeError(`Invalid ${sample} sample: a drift test needs at least one value in each sample.`);
    }
    const referenceNumbers = toFiniteNumbers(reference, 'reference');
    const currentNumbers = toFiniteNumbers(current, 'current');
    if (referenceNumbers !== null && currentNumbers !== null) {
      return new ColumnSamples(columnType, { reference: referenceNumbers, current: currentNumbers }, null);
    }
    return new ColumnSamples(columnType, null, {
      reference: toValueArray(reference),
      current: toValueArray(current),
    });
  }

  /** Whether both samples contain only numbers. */
  get isNumeric(): boolean {
    return this.numberPair !== null;
  }

  /**
   * Returns both samples as numbers in input order.
   * @throws RangeError when a sample contains text.
   */
  numbers(): NumberPair {
    if (this.numberPair === null) {
      throw new RangeError(
        `Invalid ${this.columnType} column: this test needs numbers, but a sample contains text.`
      );
    }
    return this.numberPair;
  }

  /**
   * Returns both samples sorted ascending, sorting each only once per column.
   * @throws RangeError when a sample contains text.
   */
  sorted(): NumberPair {
    if (this.sortedPair === null) {
      const { reference, current } = this.numbers();
      this.sortedPair = { reference: sortFloat64(reference.slice()), current: sortFloat64(current.slice()) };
    }
    return this.sortedPair;
  }

  /** Returns the count of each distinct value in each sample. */
  valueCounts(): ValueCounts {
    if (this.counts === null) {
      const few = this.fewValueCounts();
      const sorted = few === null ? this.sorted() : null;
      this.counts = sorted === null ? few : countSortedRuns(sorted.reference, sorted.current);
    }
    if (this.counts === null) {
      throw new Error('Value counts are missing after counting.');
    }
    return this.counts;
  }

  /**
   * Returns the value counts when they need no sort: for text, or for at most
   * {@link MAX_KEYS_COUNTED_BY_HASH} distinct numbers.
   * @returns The counts, or null for numbers with more distinct values.
   */
  fewValueCounts(): ValueCounts | null {
    if (this.numberPair === null) {
      this.counts ??= countText(this.textPair?.reference ?? [], this.textPair?.current ?? []);
      return this.counts;
    }
    if (this.hashedCounts === undefined) {
      const { reference, current } = this.numberPair;
      const counts = countNumbers([reference, current], MAX_KEYS_COUNTED_BY_HASH);
      this.hashedCounts = counts === null ? null : sortedValueCounts(counts);
    }
    return this.hashedCounts;
  }

  /**
   * Returns the KS statistic and the Wasserstein distance of the numbers from bucket summaries, without a sort.
   * @returns Both distances, or null when the samples are already sorted (a walk over them is cheaper) or
   *   their range is too wide to split into buckets.
   */
  cdfDistances(): CdfDistances | null {
    if (this.sortedPair !== null) {
      return null;
    }
    if (this.distances === undefined) {
      const { reference, current } = this.numbers();
      const { min, max } = this.range();
      this.distances = cdfDistances(reference, current, min, max);
    }
    return this.distances;
  }

  /**
   * Counts the distinct values of both samples together, stopping early once `cap` is exceeded.
   * @param cap - Largest count of interest.
   * @returns The count, or cap + 1 when there are more than `cap`.
   */
  distinctCount(cap = Infinity): number {
    return this.distinct('both', cap);
  }

  /**
   * Counts the distinct values of the reference, stopping early once `cap` is exceeded.
   * @param cap - Largest count of interest.
   * @returns The count, or cap + 1 when there are more than `cap`.
   */
  referenceDistinctCount(cap = Infinity): number {
    return this.distinct('reference', cap);
  }

  /**
   * Returns the smallest and largest value of both samples together.
   * @throws RangeError when a sample contains text.
   */
  range(): { min: number; max: number } {
    const keys = this.hashedCounts?.keys;
    if (keys !== undefined && keys.length > 0) {
      return { min: Number(keys[0]), max: Number(keys.at(-1)) };
    }
    if (this.sortedPair !== null) {
      const { reference, current } = this.sortedPair;
      return {
        min: Math.min(reference[0] ?? Infinity, current[0] ?? Infinity),
        max: Math.max(reference.at(-1) ?? -Infinity, current.at(-1) ?? -Infinity),
      };
    }
    const { reference, current } = this.numbers();
    let min = Infinity;
    let max = -Infinity;
    for (const values of [reference, current]) {
      for (let index = 0; index < values.length; index += 1) {
        const value = values[index] ?? Number.NaN;
        if (value < min) {
          min = value;
        }
        if (value > max) {
          max = value;
        }
      }
    }
    return { min, max };
  }

  /** Lists the distinct current values that the reference does not contain, in key order. */
  unseenValues(): ColumnValue[] {
    const { keys, reference } = this.valueCounts();
    return keys.filter((_, index) => reference[index] === 0);
  }

  private distinct(samples: 'reference' | 'both', cap: number): number {
    if (this.counts !== null) {
      const { keys, reference } = this.counts;
      const count = samples === 'both' ? keys.length : reference.filter((value) => value > 0).length;
      return Math.min(count, cap + 1);
    }
    if (this.numberPair === null) {
      const seen = new Set<ColumnValue>();
      const text = this.textPair ?? { reference: [], current: [] };
      for (const values of samples === 'both' ? [text.reference, text.current] : [text.reference]) {
        for (const value of values) {
          seen.add(value);
          if (seen.size > cap) {
            return cap + 1;
          }
        }
      }
      return seen.size;
    }

    // One hash count of both samples serves the automatic choice, the binning decision and the tests.
    const few = this.fewValueCounts();
    if (few !== null) {
      const count = samples === 'both' ? few.keys.length : few.reference.filter((value) => value > 0).length;
      return Math.min(count, cap + 1);
    }
    if (samples === 'both' && cap < MAX_KEYS_COUNTED_BY_HASH) {
      return cap + 1;
    }
    const { reference } = this.numberPair;
    if (cap < MAX_KEYS_COUNTED_BY_HASH) {
      // The union has too many values to hash, but the reference alone may not.
      const referenceOnly = countNumbers([reference], cap);
      return referenceOnly === null ? cap + 1 : referenceOnly.keys.length;
    }
    const sorted = this.sorted();
    const count =
      samples === 'both'
        ? countSortedUnion(sorted.reference, sorted.current)
        : countSortedUnion(sorted.reference, new Float64Array(0));
    return Math.min(count, cap + 1);
  }
}

/** Converts a sample to a Float64Array when every value is a number, or returns null when one is text. */
function toFiniteNumbers(values: SampleValues, sample: string): Float64Array | null {
  if (!(values instanceof Float64Array) && values.some((value) => typeof value !== 'number')) {
    return null;
  }
  const numbers = values instanceof Float64Array ? values : Float64Array.from(values as readonly number[]);
  for (let index = 0; index < numbers.length; index += 1) {
    const value = numbers[index] ?? Number.NaN;
    if (!Number.isFinite(value)) {
      throw new RangeError(
        `Invalid ${sample} sample: value ${String(value)} is not a finite number. Remove missing values before testing.`
      );
    }
  }
  return numbers;
}

function toValueArray(values: SampleValues): readonly ColumnValue[] {
  return values instanceof Float64Array ? Array.from(values) : values;
}
