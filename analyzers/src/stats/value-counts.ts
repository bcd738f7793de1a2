/**
 * Counts of each distinct value in a reference and a current sample: by a Map for text, by a hash table on the
 * float64 bits for numbers with few distinct values, and by walking sorted samples otherwise.
 */

/** One value of a column: a number for numerical columns, the cell text or a code for categorical ones. */
export type ColumnValue = number | string;

/** How often each distinct value occurs in each sample. */
export interface ValueCounts {
  /** Distinct values of both samples: ascending for numbers, first-seen (reference first) for text. */
  keys: readonly ColumnValue[];
  /** Reference count per key. */
  reference: Float64Array;
  /** Current count per key. */
  current: Float64Array;
}

/**
 * Counts text (or mixed) values with a Map.
 * @param reference - Reference sample.
 * @param current - Current sample.
 * @returns Counts with keys in first-seen order, reference first.
 */
export function countText(reference: readonly ColumnValue[], current: readonly ColumnValue[]): ValueCounts {
  const index = new Map<ColumnValue, number>();
  const referenceCounts: number[] = [];
  const currentCounts: number[] = [];
  const samples = [
    { values: reference, counts: referenceCounts },
    { values: current, counts: currentCounts },
  ];
  for (const { values, counts } of samples) {
    for (const value of values) {
      let position = index.get(value);
      if (position === undefined) {
        position = index.size;
        index.set(value, position);
        referenceCounts.push(0);
        currentCounts.push(0);
      }
      counts[position] = (counts[position] ?? 0) + 1;
    }
  }
  return {
    keys: [...index.keys()],
    reference: Float64Array.from(referenceCounts),
    current: Float64Array.from(currentCounts),
  };
}

/** Keys in first-seen order and one count array per counted sample. */
export interface NumberCounts {
  keys: Float64Array;
  counts: Float64Array[];
}

// Largest bucket count of distinctLowerBound: 2^21 buckets take 18 MiB.
const MAX_BOUND_BUCKETS = 1 << 21;

// Integers from 0 up to this limit, exclusive (category codes, ages, rates), are looked up without hashing.
const DIRECT_LOOKUP_LIMIT = 1024;

/**
 * Counts numbers with an open-addressing hash table keyed by their bits, one pass per sample and no
 * allocation per value. Small non-negative integers skip the hash through a direct lookup table. Both treat
 * +0 and -0 as one value, as `===` does.
 * @param samples - Samples of finite numbers.
 * @param maxKeys - Largest number of distinct values to count.
 * @returns Keys in first-seen order with a count array per sample, or null once there are more than `maxKeys`.
 */
export function countNumbers(samples: readonly Float64Array[], maxKeys: number): NumberCounts | null {
  // A table at most half full keeps probe sequences short.
  const tableBits = Math.max(4, Math.ceil(Math.log2(2 * maxKeys)));
  const mask = (1 << tableBits) - 1;
  const slots = new Int32Array(1 << tableBits).fill(-1);
  const keys = new Float64Array(maxKeys);
  const counts = samples.map(() => new Float64Array(maxKeys));
  const directKeys = new Int32Array(DIRECT_LOOKUP_LIMIT).fill(-1);
  let size = 0;
  let lastKey = -1;
  let lastValue = Number.NaN;

  for (const [sampleIndex, values] of samples.entries()) {
    const sampleCounts = counts[sampleIndex] ?? new Float64Array(0);
    const words = new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
    for (let index = 0; index < values.length; index += 1) {
      const value = values[index] ?? Number.NaN;
      // Coded and rounded columns repeat values, so the last value is checked before hashing.
      if (value === lastValue) {
        sampleCounts[lastKey] = (sampleCounts[lastKey] ?? 0) + 1;
        continue;
      }
      let key: number;
      if (value >= 0 && value < DIRECT_LOOKUP_LIMIT && Math.floor(value) === value) {
        key = directKeys[value] ?? -1;
        if (key === -1) {
          if (size === maxKeys) {
            return null;
          }
          key = size;
          keys[key] = value;
          directKeys[value] = key;
          size += 1;
        }
      } else {
        const low = words[2 * index] ?? 0;
        const high = words[2 * index + 1] ?? 0;
        let slot = Math.imul(low ^ Math.imul(high, 0x85ebca6b), 0x9e3779b1) >>> (32 - tableBits);
        key = slots[slot] ?? -1;
        while (key !== -1 && keys[key] !== value) {
          slot = (slot + 1) & mask;
          key = slots[slot] ?? -1;
        }
        if (key === -1) {
          if (size === maxKeys) {
            return null;
          }
          key = size;
          keys[key] = value;
          slots[slot] = key;
          size += 1;
        }
      }
      sampleCounts[key] = (sampleCounts[key] ?? 0) + 1;
      lastKey = key;
      lastValue = value;
    }
  }
  return { keys: keys.subarray(0, size), counts: counts.map((array) => array.subarray(0, size)) };
}

/**
 * Orders the counts of a reference and a current sample by ascending key.
 * @param counts - Output of {@link countNumbers} for [reference, current].
 * @returns Value counts with ascending keys.
 */
export function sortedValueCounts(counts: NumberCounts): ValueCounts {
  const order = Array.from(counts.keys.keys()).sort((a, b) => (counts.keys[a] ?? 0) - (counts.keys[b] ?? 0));
  return {
    keys: order.map((index) => counts.keys[index] ?? 0),
    reference: Float64Array.from(order, (index) => counts.counts[0]?.[index] ?? 0),
    current: Float64Array.from(order, (index) => counts.counts[1]?.[index] ?? 0),
  };
}

/**
 * Counts the distinct values of two ascending arrays together.
 * @param first - Ascending values.
 * @param second - Ascending values.
 * @returns The number of distinct values.
 */
export function countSortedUnion(first: Float64Array, second: Float64Array): number {
  let i = 0;
  let j = 0;
  let count = 0;
  while (i < first.length || j < second.length) {
    const value = Math.min(first[i] ?? Infinity, second[j] ?? Infinity);
    while (i < first.length && (first[i] ?? Infinity) <= value) {
      i += 1;
    }
    while (j < second.length && (second[j] ?? Infinity) <= value) {
      j += 1;
    }
    count += 1;
  }
  return count;
}

/**
 * Counts each distinct value of two ascending arrays by walking their runs of equal values together.
 * @param reference - Ascending reference values.
 * @param current - Ascending current values.
 * @returns Value counts with ascending keys.
 */
export function countSortedRuns(reference: Float64Array, current: Float64Array): ValueCounts {
  const keys: number[] = [];
  const referenceCounts: number[] = [];
  const currentCounts: number[] = [];
  let i = 0;
  let j = 0;
  while (i < reference.length || j < current.length) {
    const value = Math.min(reference[i] ?? Infinity, current[j] ?? Infinity);
    const referenceStart = i;
    const currentStart = j;
    while (i < reference.length && (reference[i] ?? Infinity) <= value) {
      i += 1;
    }
    while (j < current.length && (current[j] ?? Infinity) <= value) {
      j += 1;
    }
    keys.push(value);
    referenceCounts.push(i - referenceStart);
    currentCounts.push(j - currentStart);
  }
  return { keys, reference: Float64Array.from(referenceCounts), current: Float64Array.from(currentCounts) };
}

/**
 * Returns a lower bound on the number of distinct values of several samples, in one pass and without a sort.
 * The joint range is split into about one bucket per two values, and each bucket counts as 0, 1 or 2 distinct
 * values, 2 once it has seen two different values. For evenly spread continuous values the bound is about 70 %
 * of their number (Poisson-filled buckets, an estimate), and less for skewed or clustered ones.
 * @param samples - Samples of finite numbers.
 * @param min - Smallest value of all samples.
 * @param max - Largest value of all samples.
 * @returns A number of distinct values that the samples have at least.
 */
export function distinctLowerBound(samples: readonly Float64Array[], min: number, max: number): number {
  const total = samples.reduce((sum, values) => sum + values.length, 0);
  const bucketCount = Math.max(1, Math.min(MAX_BOUND_BUCKETS, Math.ceil(total / 2)));
  const scale = bucketCount / (max - min);
  if (!(scale > 0 && Number.isFinite(scale))) {
    return total === 0 ? 0 : 1;
  }
  const seen = new Uint8Array(bucketCount);
  const firstValues = new Float64Array(bucketCount);
  let bound = 0;
  for (const values of samples) {
    for (let index = 0; index < values.length; index += 1) {
      const value = values[index] ?? 0;
      const bucket = Math.min(Math.floor((value - min) * scale), bucketCount - 1);
      const state = seen[bucket] ?? 0;
      if (state === 0) {
        seen[bucket] = 1;
        firstValues[bucket] = value;
        bound += 1;
      } else if (state === 1 && value !== firstValues[bucket]) {
        seen[bucket] = 2;
        bound += 1;
      }
    }
  }
  return bound;
}
