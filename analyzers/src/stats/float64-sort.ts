/**
 * Ascending sort of a Float64Array by a least-significant-digit radix sort on the IEEE 754 bit patterns.
 * It is linear in the length, and on a million uniform values it took 100 to 170 ms where Node 20's
 * Float64Array.prototype.sort took 205 to 225 ms (a shared 2-CPU AMD EPYC machine at load average 6 to 8).
 * A bucket sort over the value range was no faster there: its scatter misses the cache like a radix pass.
 *
 * Each value's 64 bits are mapped to an unsigned key with the same order: a positive value gets its sign bit
 * set, a negative value has every bit inverted. The keys are sorted 16 bits at a time, from the lowest
 * digit up, and a pass is skipped when every key has the same digit (as in integer codes, whose low mantissa
 * bits are all zero). The order of -0 and +0, which compare equal, is not specified.
 */

// Below this size the built-in comparison sort is used, because four 65,536-bucket histograms would cost more
// than sorting so few values (an estimate, not measured).
const MIN_RADIX_SORT_LENGTH = 4096;

const DIGIT_BITS = 16;
const BUCKETS = 1 << DIGIT_BITS;
const DIGIT_MASK = BUCKETS - 1;
const SIGN_BIT = 0x80000000;

/**
 * Sorts finite values ascending, in place.
 * @param values - Values without NaN (NaN has no place in the key order).
 * @returns The same array, sorted.
 */
export function sortFloat64(values: Float64Array): Float64Array {
  const n = values.length;
  if (n < MIN_RADIX_SORT_LENGTH) {
    return values.sort();
  }

  // Little-endian platforms (every platform Node supports) keep the low word of value i at 2i, the high at 2i + 1.
  const words = new Uint32Array(values.buffer, values.byteOffset, n * 2);
  const histograms = [0, 1, 2, 3].map(() => new Uint32Array(BUCKETS));
  const [lowLow, lowHigh, highLow, highHigh] = histograms as [
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
  ];

  for (let i = 0; i < 2 * n; i += 2) {
    let low = words[i] ?? 0;
    let high = words[i + 1] ?? 0;
    if ((high & SIGN_BIT) !== 0) {
      low = ~low >>> 0;
      high = ~high >>> 0;
    } else {
      high = (high | SIGN_BIT) >>> 0;
    }
    words[i] = low;
    words[i + 1] = high;
    lowLow[low & DIGIT_MASK] = (lowLow[low & DIGIT_MASK] ?? 0) + 1;
    lowHigh[low >>> DIGIT_BITS] = (lowHigh[low >>> DIGIT_BITS] ?? 0) + 1;
    highLow[high & DIGIT_MASK] = (highLow[high & DIGIT_MASK] ?? 0) + 1;
    highHigh[high >>> DIGIT_BITS] = (highHigh[high >>> DIGIT_BITS] ?? 0) + 1;
  }

  let source: Uint32Array = words;
  let target: Uint32Array = new Uint32Array(2 * n);
  for (const [pass, histogram] of histograms.entries()) {
    const wordOffset = pass >> 1;
    const shift = (pass & 1) * DIGIT_BITS;
    const firstDigit = ((source[wordOffset] ?? 0) >>> shift) & DIGIT_MASK;
    if (histogram[firstDigit] === n) {
      continue;
    }
    toStartOffsets(histogram);
    scatter(source, target, histogram, wordOffset, shift);
    [source, target] = [target, source];
  }
  if (source !== words) {
    words.set(source);
  }

  for (let i = 0; i < 2 * n; i += 2) {
    const high = words[i + 1] ?? 0;
    if ((high & SIGN_BIT) !== 0) {
      words[i + 1] = (high & ~SIGN_BIT) >>> 0;
    } else {
      words[i] = ~(words[i] ?? 0) >>> 0;
      words[i + 1] = ~high >>> 0;
    }
  }
  return values;
}

/** Turns per-digit counts into the index at which each digit's first key goes. */
function toStartOffsets(histogram: Uint32Array): void {
  let sum = 0;
  for (let digit = 0; digit < BUCKETS; digit += 1) {
    const count = histogram[digit] ?? 0;
    histogram[digit] = sum;
    sum += count;
  }
}

/** Moves every (low, high) key pair to its digit's next free slot, keeping their order as LSD radix sort needs. */
function scatter(
  source: Uint32Array,
  target: Uint32Array,
  offsets: Uint32Array,
  wordOffset: number,
  shift: number
): void {
  const length = source.length;
  for (let i = 0; i < length; i += 2) {
    const digit = ((source[i + wordOffset] ?? 0) >>> shift) & DIGIT_MASK;
    const slot = offsets[digit] ?? 0;
    offsets[digit] = slot + 1;
    target[2 * slot] = source[i] ?? 0;
    target[2 * slot + 1] = source[i + 1] ?? 0;
  }
}
