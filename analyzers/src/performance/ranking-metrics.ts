/**
 * Threshold-free performance of a binary classifier from labelled scores: AUROC with its DeLong variance
 * and interval, and average precision. Both follow scikit-learn 1.5 (`roc_auc_score`,
 * `average_precision_score`) and the interval follows pROC's `ci.auc(method = "delong")`.
 */

/** Two-sided 95% standard normal quantile, Φ⁻¹(0.975). */
export const Z_95 = 1.959963984540054;

/** AUROC with its DeLong standard error and 95% interval. */
export interface AurocEstimate {
  /** Area under the ROC curve, the Mann-Whitney probability P(score⁺ > score⁻) with ties counted 1/2. */
  auroc: number;
  /** DeLong variance of the AUROC. */
  variance: number;
  /** 95% interval AUROC ± z·√variance, clipped to [0, 1] as pROC clips it. */
  lower: number;
  upper: number;
}

/**
 * Computes midranks (1-based, ties get the mean of their ranks), as in DeLong's fast algorithm by Sun and
 * Xu (2014), https://doi.org/10.1109/LSP.2014.2337313.
 */
function midranks(values: readonly number[]): number[] {
  const order = values.map((_, index) => index).sort((a, b) => (values[a] ?? 0) - (values[b] ?? 0));
  const ranks = new Array<number>(values.length).fill(0);

  let start = 0;
  while (start < order.length) {
    let end = start;
    const value = values[order[start] ?? 0];
    while (end + 1 < order.length && values[order[end + 1] ?? 0] === value) {
      end += 1;
    }

    // Ranks start..end (0-based) share their mean, 1-based: (start + end) / 2 + 1.
    const rank = (start + end) / 2 + 1;
    for (let position = start; position <= end; position += 1) {
      ranks[order[position] ?? 0] = rank;
    }
    start = end + 1;
  }
  return ranks;
}

function sampleVariance(values: readonly number[]): number {
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  const squares = values.reduce((sum, value) => sum + (value - mean) ** 2, 0);
  return squares / (values.length - 1);
}

/**
 * Computes the AUROC and its DeLong variance (DeLong, DeLong and Clarke-Pearson 1988), with the structural
 * components obtained from midranks.
 * @param scores - Model scores, higher meaning more likely positive.
 * @param labels - True labels, 1 for positive and 0 for negative, same length as `scores`.
 * @returns The estimate, or undefined with fewer than 2 positives or 2 negatives (the variance needs both).
 */
export function aurocWithDeLong(
  scores: readonly number[],
  labels: readonly (0 | 1)[]
): AurocEstimate | undefined {
  const positives = scores.filter((_, index) => labels[index] === 1);
  const negatives = scores.filter((_, index) => labels[index] === 0);
  const m = positives.length;
  const n = negatives.length;
  if (m < 2 || n < 2) {
    return undefined;
  }

  const combinedRanks = midranks([...positives, ...negatives]);
  const positiveRanks = midranks(positives);
  const negativeRanks = midranks(negatives);

  // V10[i]: share of negatives below positive i; V01[j]: share of positives above negative j.
  const v10 = positives.map((_, i) => ((combinedRanks[i] ?? 0) - (positiveRanks[i] ?? 0)) / n);
  const v01 = negatives.map((_, j) => 1 - ((combinedRanks[m + j] ?? 0) - (negativeRanks[j] ?? 0)) / m);
  const auroc = v10.reduce((sum, value) => sum + value, 0) / m;

  const variance = sampleVariance(v10) / m + sampleVariance(v01) / n;
  const halfWidth = Z_95 * Math.sqrt(variance);
  return {
    auroc,
    variance,
    lower: Math.max(0, auroc - halfWidth),
    upper: Math.min(1, auroc + halfWidth),
  };
}

/**
 * Computes average precision as scikit-learn's `average_precision_score`: Σ (Rₖ − Rₖ₋₁)·Pₖ over the distinct
 * scores in descending order, without interpolation.
 * @param scores - Model scores.
 * @param labels - True labels, 1 or 0.
 * @returns The average precision, or undefined without a positive label, where recall is undefined.
 */
export function averagePrecision(scores: readonly number[], labels: readonly (0 | 1)[]): number | undefined {
  const totalPositives = labels.filter((label) => label === 1).length;
  if (totalPositives === 0) {
    return undefined;
  }
  const order = scores.map((_, index) => index).sort((a, b) => (scores[b] ?? 0) - (scores[a] ?? 0));

  let truePositives = 0;
  let falsePositives = 0;
  let previousRecall = 0;
  let sum = 0;
  for (let position = 0; position < order.length; position += 1) {
    const index = order[position] ?? 0;
    if (labels[index] === 1) {
      truePositives += 1;
    } else {
      falsePositives += 1;
    }

    // Tied scores form one threshold, so precision and recall are taken after the last of the ties.
    const next = order[position + 1];
    if (next !== undefined && scores[next] === scores[index]) {
      continue;
    }
    const recall = truePositives / totalPositives;
    const precision = truePositives / (truePositives + falsePositives);
    sum += (recall - previousRecall) * precision;
    previousRecall = recall;
  }
  return sum;
}
