/**
 * Deterministic synthetic score samples that `reference/make_expectations.py` reproduces bit for bit in
 * Python. Only +, *, / and floor are used, because those are exactly rounded in both languages.
 */

/** Recipe of one synthetic sample. */
export interface SampleSpec {
  /** Start state of the generator, an integer from 0 to 2^32 − 1. */
  seed: number;
  /** Number of values. */
  n: number;
  /** Offset added to every value. */
  shift: number;
  /** Factor applied to the mean of the uniforms. */
  scale: number;
  /** Number of uniforms averaged per value; more terms give a narrower, bell-shaped sample. */
  terms: number;
  /** When set, values are floored to a multiple of it, which creates ties. */
  quantum?: number;
}

const MODULUS = 4294967296;

/**
 * Creates the linear congruential generator x ← (1664525·x + 1013904223) mod 2^32 (Numerical Recipes).
 * Every intermediate stays below 2^53, so JavaScript numbers compute it exactly.
 * @param seed - Start state.
 * @returns A function that returns the next uniform in [0, 1).
 */
export function createUniformGenerator(seed: number): () => number {
  let state = seed % MODULUS;
  return () => {
    state = (state * 1664525 + 1013904223) % MODULUS;
    return state / MODULUS;
  };
}

/**
 * Generates the sample a {@link SampleSpec} describes.
 * @param spec - The recipe.
 * @returns The values, in generation order.
 */
export function generateSample(spec: SampleSpec): number[] {
  const nextUniform = createUniformGenerator(spec.seed);
  const values: number[] = [];

  for (let index = 0; index < spec.n; index += 1) {
    let sum = 0;
    for (let term = 0; term < spec.terms; term += 1) {
      sum += nextUniform();
    }

    const value = spec.shift + spec.scale * (sum / spec.terms);
    values.push(spec.quantum === undefined ? value : Math.floor(value / spec.quantum) * spec.quantum);
  }
  return values;
}
