/**
 * Seeded synthetic logged pairs for tests and the benchmark: sepsis-like inputs and the probability of a
 * fixed nonlinear "monitored model". The function is invented and has no clinical meaning.
 */
import { createRng } from '@monitormed/synthea-data';
import { encodeFeatures, type InputValues, type SurrogateFeatureSpec } from './features.js';
import type { SurrogatePair } from './train.js';

/**
 * Generates `count` pairs for a spec whose inputs are the sepsis inputs.
 * @param spec - The sepsis feature spec (inputs named as in SEPSIS_INPUTS).
 * @param count - Number of pairs.
 * @param seed - Seed of the generator.
 * @param missingShare - Probability that an input is missing, from 0 to 1.
 * @returns The pairs, with their input values.
 */
export function syntheticSepsisPairs(
  spec: SurrogateFeatureSpec,
  count: number,
  seed: number,
  missingShare = 0.1
): (SurrogatePair & { values: InputValues })[] {
  const rng = createRng(seed);
  const pairs: (SurrogatePair & { values: InputValues })[] = [];
  for (let index = 0; index < count; index += 1) {
    const full = {
      heartRate: 85 + 18 * rng.normal(),
      respiratoryRate: 18 + 4 * rng.normal(),
      temperature: 37.2 + 0.8 * rng.normal(),
      systolicBp: 118 + 18 * rng.normal(),
      wbc: 8.5 + 3 * rng.normal(),
      lactate: Math.max(0.3, 1.6 + 1 * rng.normal()),
      creatinine: Math.max(0.3, 1 + 0.4 * rng.normal()),
    };
    const values: InputValues = {};
    for (const [name, value] of Object.entries(full)) {
      if (rng.next() >= missingShare) {
        values[name] = value;
      }
    }
    // The monitored model uses the value it was given or its own default, like the simulator.
    const seen = (name: keyof typeof full, fallback: number): number => values[name] ?? fallback;
    const logit =
      -2.5 +
      0.04 * (seen('heartRate', 80) - 75) +
      0.25 * (seen('respiratoryRate', 16) - 16) +
      0.6 * Math.abs(seen('temperature', 37) - 37) +
      0.03 * Math.max(0, 120 - seen('systolicBp', 120)) +
      0.12 * Math.abs(seen('wbc', 7.5) - 7.5) +
      0.5 * (seen('lactate', 1.2) - 1.2) +
      0.6 * (seen('creatinine', 0.9) - 0.9);
    pairs.push({ features: encodeFeatures(spec, values), probability: 1 / (1 + Math.exp(-logit)), values });
  }
  return pairs;
}
