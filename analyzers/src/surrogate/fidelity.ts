/**
 * Fidelity of a surrogate to the monitored model: how closely its probabilities follow the model's reported
 * probabilities on held-out pairs.
 */

/** Agreement of the surrogate with the monitored model on held-out pairs. */
export interface SurrogateFidelity {
  /** Held-out pairs. */
  n: number;
  /** Mean absolute error between the probabilities. */
  meanAbsoluteError: number;
  /** Pearson correlation of the probabilities; NaN when either side is constant. */
  pearson: number;
  /** Spearman rank correlation, with average ranks for ties; NaN when either side is constant. */
  spearman: number;
  /** Share of pairs where both sides make the same positive/negative call at the threshold. */
  callAgreement: number;
  /** The model's positive threshold used for the calls (p ≥ threshold is positive). */
  threshold: number;
}

/**
 * Computes the fidelity of surrogate probabilities to the model's probabilities.
 * @param predicted - Surrogate probabilities (dropout off).
 * @param reported - The monitored model's probabilities, in the same order.
 * @param threshold - The model's positive threshold.
 * @returns The fidelity metrics.
 * @throws RangeError when the arrays are empty or of different lengths.
 */
export function computeFidelity(
  predicted: readonly number[],
  reported: readonly number[],
  threshold: number
): SurrogateFidelity {
  if (predicted.length === 0 || predicted.length !== reported.length) {
    throw new RangeError(
      `Invalid fidelity input: ${String(predicted.length)} predictions for ${String(reported.length)} reported values; expected the same non-zero count.`
    );
  }

  let absoluteErrorSum = 0;
  let agreements = 0;
  for (const [index, value] of predicted.entries()) {
    const target = reported[index] ?? Number.NaN;
    absoluteErrorSum += Math.abs(value - target);
    if (value >= threshold === target >= threshold) {
      agreements += 1;
    }
  }

  return {
    n: predicted.length,
    meanAbsoluteError: absoluteErrorSum / predicted.length,
    pearson: pearsonCorrelation(predicted, reported),
    spearman: pearsonCorrelation(averageRanks(predicted), averageRanks(reported)),
    callAgreement: agreements / predicted.length,
    threshold,
  };
}

/**
 * Computes the Pearson correlation coefficient.
 * @returns r from −1 to 1, or NaN when either sample has zero variance.
 */
export function pearsonCorrelation(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  const meanX = x.reduce((sum, value) => sum + value, 0) / n;
  const meanY = y.reduce((sum, value) => sum + value, 0) / n;
  let covariance = 0;
  let varianceX = 0;
  let varianceY = 0;
  for (let index = 0; index < n; index += 1) {
    const dx = (x[index] ?? 0) - meanX;
    const dy = (y[index] ?? 0) - meanY;
    covariance += dx * dy;
    varianceX += dx * dx;
    varianceY += dy * dy;
  }
  if (varianceX === 0 || varianceY === 0) {
    return Number.NaN;
  }
  return covariance / Math.sqrt(varianceX * varianceY);
}

/**
 * Ranks values from 1, giving tied values the mean of their ranks (as scipy.stats.rankdata 'average').
 * @returns The rank of each value, in input order.
 */
export function averageRanks(values: readonly number[]): number[] {
  const order = values.map((value, index) => ({ value, index })).sort((a, b) => a.value - b.value);
  const ranks = new Array<number>(values.length).fill(0);
  let start = 0;
  while (start < order.length) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]?.value === order[start]?.value) {
      end += 1;
    }
    const rank = (start + end) / 2 + 1;
    for (let position = start; position <= end; position += 1) {
      const entry = order[position];
      if (entry !== undefined) {
        ranks[entry.index] = rank;
      }
    }
    start = end + 1;
  }
  return ranks;
}
