/**
 * Performance of a binary classifier at its decision threshold (sensitivity, specificity, PPV, NPV with
 * Wilson score intervals) and of its probabilities (Brier score, expected calibration error, logistic
 * calibration slope and intercept).
 */
import { Z_95 } from './ranking-metrics.js';

/** A proportion x / n with its 95% Wilson score interval. */
export interface Proportion {
  /** Successes. */
  x: number;
  /** Trials. */
  n: number;
  /** x / n, or null when n = 0. */
  value: number | null;
  lower: number | null;
  upper: number | null;
}

/**
 * Computes the 95% Wilson score interval of x / n (Wilson 1927), as `scipy.stats.binomtest(x, n)
 * .proportion_ci(method="wilson")` does.
 * @param x - Successes, 0 ≤ x ≤ n.
 * @param n - Trials.
 * @returns The proportion and its interval; all null when n = 0.
 */
export function wilsonProportion(x: number, n: number): Proportion {
  if (n === 0) {
    return { x, n, value: null, lower: null, upper: null };
  }
  const z2 = Z_95 * Z_95;
  const p = x / n;
  const center = (x + z2 / 2) / (n + z2);
  const halfWidth = (Z_95 * Math.sqrt(n * p * (1 - p) + z2 / 4)) / (n + z2);
  return { x, n, value: p, lower: center - halfWidth, upper: center + halfWidth };
}

/** Confusion-matrix counts. */
export interface ConfusionCounts {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** Confusion-matrix metrics at one threshold. */
export interface ThresholdMetrics extends ConfusionCounts {
  threshold: number;
  sensitivity: Proportion;
  specificity: Proportion;
  ppv: Proportion;
  npv: Proportion;
}

/**
 * Counts the confusion matrix with a positive call at score ≥ threshold, the model catalog's rule.
 * @param scores - Model probabilities.
 * @param labels - True labels, 1 or 0.
 * @param threshold - The model's positiveThreshold.
 */
export function confusionCounts(
  scores: readonly number[],
  labels: readonly (0 | 1)[],
  threshold: number
): ConfusionCounts {
  const counts: ConfusionCounts = { tp: 0, fp: 0, tn: 0, fn: 0 };
  scores.forEach((score, index) => {
    const predictedPositive = score >= threshold;
    const positive = labels[index] === 1;
    if (predictedPositive && positive) {
      counts.tp += 1;
    } else if (predictedPositive) {
      counts.fp += 1;
    } else if (positive) {
      counts.fn += 1;
    } else {
      counts.tn += 1;
    }
  });
  return counts;
}

/**
 * Computes sensitivity, specificity, PPV and NPV at `threshold`, each with its Wilson interval.
 * @param scores - Model probabilities.
 * @param labels - True labels, 1 or 0.
 * @param threshold - The model's positiveThreshold.
 */
export function thresholdMetrics(
  scores: readonly number[],
  labels: readonly (0 | 1)[],
  threshold: number
): ThresholdMetrics {
  const counts = confusionCounts(scores, labels, threshold);
  return {
    ...counts,
    threshold,
    sensitivity: wilsonProportion(counts.tp, counts.tp + counts.fn),
    specificity: wilsonProportion(counts.tn, counts.tn + counts.fp),
    ppv: wilsonProportion(counts.tp, counts.tp + counts.fp),
    npv: wilsonProportion(counts.tn, counts.tn + counts.fn),
  };
}

/**
 * Computes the Brier score, the mean of (p − y)², as scikit-learn's `brier_score_loss`.
 * @returns The score, or undefined for no results.
 */
export function brierScore(scores: readonly number[], labels: readonly (0 | 1)[]): number | undefined {
  if (scores.length === 0) {
    return undefined;
  }
  const sum = scores.reduce((total, score, index) => total + (score - (labels[index] ?? 0)) ** 2, 0);
  return sum / scores.length;
}

/** One bin of a reliability diagram. */
export interface ReliabilityBin {
  lower: number;
  upper: number;
  n: number;
  /** Mean probability of the bin's results. */
  meanScore: number;
  /** Share of positive labels in the bin. */
  positiveRate: number;
}

/** Expected calibration error with its reliability bins. */
export interface CalibrationError {
  /** Σ nᵦ/N · |positiveRate − meanScore| over non-empty bins. */
  ece: number;
  bins: number;
  reliability: ReliabilityBin[];
}

/**
 * Computes the expected calibration error over `bins` equal-width bins of [0, 1]. Bin edges and bin choice
 * follow scikit-learn 1.5's `calibration_curve(strategy="uniform")`: edges i/bins, and a score equal to an
 * inner edge falls into the lower bin.
 * @param bins - Number of bins; 10 by default.
 * @returns The error, or undefined for no results.
 */
export function expectedCalibrationError(
  scores: readonly number[],
  labels: readonly (0 | 1)[],
  bins = 10
): CalibrationError | undefined {
  if (scores.length === 0) {
    return undefined;
  }

  // numpy.linspace(0, 1, bins + 1) computes each edge as i * (1 / bins).
  const step = 1 / bins;
  const innerEdges = Array.from({ length: bins - 1 }, (_, index) => (index + 1) * step);
  const counts = new Array<number>(bins).fill(0);
  const scoreSums = new Array<number>(bins).fill(0);
  const positiveCounts = new Array<number>(bins).fill(0);
  scores.forEach((score, index) => {
    const bin = innerEdges.filter((edge) => edge < score).length;
    counts[bin] = (counts[bin] ?? 0) + 1;
    scoreSums[bin] = (scoreSums[bin] ?? 0) + score;
    positiveCounts[bin] = (positiveCounts[bin] ?? 0) + (labels[index] ?? 0);
  });

  const reliability: ReliabilityBin[] = [];
  let ece = 0;
  counts.forEach((n, bin) => {
    if (n === 0) {
      return;
    }
    const meanScore = (scoreSums[bin] ?? 0) / n;
    const positiveRate = (positiveCounts[bin] ?? 0) / n;
    ece += (n / scores.length) * Math.abs(positiveRate - meanScore);
    reliability.push({
      lower: bin * step,
      upper: bin === bins - 1 ? 1 : (bin + 1) * step,
      n,
      meanScore,
      positiveRate,
    });
  });
  return { ece, bins, reliability };
}

/** Logistic recalibration y ~ intercept + slope · logit(p). A calibrated model has slope 1 and intercept 0. */
export interface CalibrationFit {
  slope: number;
  intercept: number;
  iterations: number;
}

/** Smallest distance of p from 0 and 1 before taking logit(p), so p = 0 or 1 gives a finite covariate. */
export const LOGIT_CLIP = 1e-15;

/**
 * Fits the unpenalised logistic regression of the label on logit(p) by Newton-Raphson (Cox 1958
 * calibration slope and intercept).
 * @returns The fit, or undefined when it does not exist: fewer than 2 positives or negatives, constant
 *   scores, or no convergence in 100 iterations (perfect separation).
 */
export function calibrationFit(
  scores: readonly number[],
  labels: readonly (0 | 1)[]
): CalibrationFit | undefined {
  const positives = labels.filter((label) => label === 1).length;
  if (positives < 2 || labels.length - positives < 2) {
    return undefined;
  }
  const x = scores.map((score) => {
    const p = Math.min(1 - LOGIT_CLIP, Math.max(LOGIT_CLIP, score));
    return Math.log(p / (1 - p));
  });

  let intercept = 0;
  let slope = 1;
  for (let iteration = 1; iteration <= 100; iteration += 1) {
    // Gradient g and Hessian H of the log-likelihood for beta = (intercept, slope).
    let g0 = 0;
    let g1 = 0;
    let h00 = 0;
    let h01 = 0;
    let h11 = 0;
    x.forEach((xi, index) => {
      const mu = 1 / (1 + Math.exp(-(intercept + slope * xi)));
      const residual = (labels[index] ?? 0) - mu;
      const weight = mu * (1 - mu);
      g0 += residual;
      g1 += residual * xi;
      h00 += weight;
      h01 += weight * xi;
      h11 += weight * xi * xi;
    });

    const determinant = h00 * h11 - h01 * h01;
    if (!(determinant > 0)) {
      return undefined;
    }
    const step0 = (h11 * g0 - h01 * g1) / determinant;
    const step1 = (h00 * g1 - h01 * g0) / determinant;
    intercept += step0;
    slope += step1;
    if (Math.abs(step0) < 1e-12 && Math.abs(step1) < 1e-12) {
      return { slope, intercept, iterations: iteration };
    }
  }
  return undefined;
}
