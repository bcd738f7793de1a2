/**
 * Uncertainty of a binary classifier's probability output.
 */

/**
 * Computes the binary predictive entropy H(p) = −p·log2(p) − (1−p)·log2(1−p), in bits.
 * It is 0 for a certain call (p = 0 or 1) and 1 bit at p = 0.5.
 * @param probability - The model's positive-class probability, from 0 to 1.
 * @returns The entropy in bits, from 0 to 1.
 * @throws RangeError when `probability` is not a finite number in [0, 1].
 */
export function binaryEntropyBits(probability: number): number {
  assertProbability(probability);

  // 0·log2(0) is taken as 0, its limit, so the certain calls have zero entropy.
  const positiveTerm = probability === 0 ? 0 : -probability * Math.log2(probability);
  const negativeTerm = probability === 1 ? 0 : -(1 - probability) * Math.log2(1 - probability);
  return positiveTerm + negativeTerm;
}

/**
 * Computes the decision margin |2p − 1|: 0 on the decision boundary p = 0.5, 1 for a certain call.
 * @param probability - The model's positive-class probability, from 0 to 1.
 * @returns The margin, from 0 to 1.
 * @throws RangeError when `probability` is not a finite number in [0, 1].
 */
export function decisionMargin(probability: number): number {
  assertProbability(probability);
  return Math.abs(2 * probability - 1);
}

/**
 * Tells whether a value is a probability: a finite number from 0 to 1.
 * @param value - Any value.
 * @returns True for a number in [0, 1].
 */
export function isProbability(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 1;
}

function assertProbability(probability: number): void {
  if (!isProbability(probability)) {
    throw new RangeError(`Invalid probability ${String(probability)}: expected a number from 0 to 1.`);
  }
}
