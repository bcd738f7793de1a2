/**
 * Seeded pseudo-random numbers, so that a scenario run with the same seed sends the same results.
 * The generator is mulberry32 (a 32-bit state, period 2^32), ample for a demo and fast.
 */
import { createHash } from 'node:crypto';

/** A seeded random source. */
export interface Rng {
  /** Returns a float uniformly distributed in [0, 1). */
  next(): number;
  /** Returns an integer uniformly distributed in [0, bound). */
  int(bound: number): number;
  /** Returns a standard normal deviate (mean 0, standard deviation 1), by the Box-Muller transform. */
  normal(): number;
}

/**
 * Creates a mulberry32 generator.
 * @param seed - Any integer; only its low 32 bits are used.
 * @returns A generator whose sequence depends only on the seed.
 */
export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  return {
    next,
    int: (bound) => Math.floor(next() * bound),
    normal: () => {
      // 1 - next() lies in (0, 1], so the logarithm is finite.
      const u = 1 - next();
      const v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
  };
}

/**
 * Derives an independent seed for one stream, such as one patient on one day, so that a value does not
 * change when other streams draw more or fewer numbers.
 * @param seed - The scenario seed.
 * @param parts - Labels of the stream.
 * @returns A 32-bit unsigned seed.
 */
export function deriveSeed(seed: number, ...parts: (string | number)[]): number {
  const digest = createHash('sha256')
    .update([seed, ...parts].join('\u0000'))
    .digest();
  return digest.readUInt32BE(0);
}

/**
 * Creates the generator of one stream: shorthand for `createRng(deriveSeed(seed, ...parts))`.
 * @param seed - The scenario seed.
 * @param parts - Labels of the stream.
 * @returns A generator for that stream.
 */
export function streamRng(seed: number, ...parts: (string | number)[]): Rng {
  return createRng(deriveSeed(seed, ...parts));
}

/**
 * Shuffles a copy of an array (Fisher-Yates) with the given generator.
 * @param items - Items to shuffle.
 * @param rng - Random source.
 * @returns A new array with the same items in random order.
 */
export function shuffle<T>(items: readonly T[], rng: Rng): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}
