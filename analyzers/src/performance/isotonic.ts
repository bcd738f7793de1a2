/**
 * Isotonic regression of labels on scores, fitted as scikit-learn 1.5's
 * `IsotonicRegression(increasing=True, out_of_bounds="clip")`: duplicate scores are merged into their
 * weighted mean label, the pool-adjacent-violators algorithm (PAVA) gives a non-decreasing fit, and
 * prediction interpolates linearly between the fitted points and clips outside them.
 */

/** A fitted non-decreasing step function, evaluated by linear interpolation. */
export interface IsotonicFit {
  /** Distinct training scores, ascending. */
  x: number[];
  /** Fitted values at `x`, non-decreasing. */
  y: number[];
}

/**
 * Fits the isotonic regression of `labels` on `scores`.
 * @param scores - Training scores (the model's probabilities on the reference period).
 * @param labels - Labels 0 or 1 (or any numbers), same length.
 * @returns The fit; throws a RangeError for no data or unequal lengths.
 */
export function fitIsotonic(scores: readonly number[], labels: readonly number[]): IsotonicFit {
  if (scores.length === 0 || scores.length !== labels.length) {
    throw new RangeError(
      `Isotonic regression needs equal, non-zero numbers of scores and labels, got ${String(scores.length)} and ${String(labels.length)}.`
    );
  }

  // Merge duplicate scores into one point weighted by their count, with their mean label.
  const order = scores.map((_, index) => index).sort((a, b) => (scores[a] ?? 0) - (scores[b] ?? 0));
  const x: number[] = [];
  const sums: number[] = [];
  const weights: number[] = [];
  for (const index of order) {
    const score = scores[index] ?? 0;
    const last = x.length - 1;
    if (last >= 0 && x[last] === score) {
      sums[last] = (sums[last] ?? 0) + (labels[index] ?? 0);
      weights[last] = (weights[last] ?? 0) + 1;
    } else {
      x.push(score);
      sums.push(labels[index] ?? 0);
      weights.push(1);
    }
  }

  // PAVA: keep a stack of blocks with their weighted mean; merge while the last two violate the order.
  const blockMeans: number[] = [];
  const blockWeights: number[] = [];
  const blockSizes: number[] = [];
  x.forEach((_, point) => {
    blockMeans.push((sums[point] ?? 0) / (weights[point] ?? 1));
    blockWeights.push(weights[point] ?? 1);
    blockSizes.push(1);
    while (blockMeans.length > 1 && (blockMeans.at(-2) ?? 0) > (blockMeans.at(-1) ?? 0)) {
      const mean = blockMeans.pop() ?? 0;
      const weight = blockWeights.pop() ?? 0;
      const size = blockSizes.pop() ?? 0;
      const top = blockMeans.length - 1;
      const mergedWeight = (blockWeights[top] ?? 0) + weight;
      blockMeans[top] = ((blockMeans[top] ?? 0) * (blockWeights[top] ?? 0) + mean * weight) / mergedWeight;
      blockWeights[top] = mergedWeight;
      blockSizes[top] = (blockSizes[top] ?? 0) + size;
    }
  });

  const y: number[] = [];
  blockMeans.forEach((mean, block) => {
    for (let count = 0; count < (blockSizes[block] ?? 0); count += 1) {
      y.push(mean);
    }
  });
  return { x, y };
}

/**
 * Evaluates a fit at `score`: linear interpolation between the fitted points, clipped to the first and
 * last fitted value outside the training range (numpy.interp on clipped input).
 */
export function predictIsotonic(fit: IsotonicFit, score: number): number {
  const { x, y } = fit;
  const first = x[0] ?? 0;
  const last = x.length - 1;
  if (score <= first) {
    return y[0] ?? 0;
  }
  if (score >= (x[last] ?? 0)) {
    return y[last] ?? 0;
  }

  // Binary search for the segment x[low] ≤ score < x[low + 1].
  let low = 0;
  let high = last;
  while (high - low > 1) {
    const middle = (low + high) >> 1;
    if ((x[middle] ?? 0) <= score) {
      low = middle;
    } else {
      high = middle;
    }
  }
  const x0 = x[low] ?? 0;
  const x1 = x[high] ?? 0;
  const y0 = y[low] ?? 0;
  const y1 = y[high] ?? 0;
  return y0 + ((score - x0) * (y1 - y0)) / (x1 - x0);
}
