/**
 * Confidence-based performance estimation (CBPE) as NannyML describes it
 * (https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html). The model's scores
 * are calibrated by isotonic regression on a labelled reference period. Each unlabelled result then counts
 * as a fractional true or false positive or negative, weighted by its calibrated probability.
 */
import { fitIsotonic, predictIsotonic, type IsotonicFit } from './isotonic.js';

/** Conditions under which the CBPE estimate is valid; stored with every estimate. */
export const CBPE_ASSUMPTIONS = [
  'No concept drift: P(label | inputs) is the same in the window as in the reference period.',
  'Scores are calibrated after the isotonic fit on the reference period (checked on the reference only).',
  'No covariate shift into score regions that the reference period did not cover; scores outside it are clipped to its range.',
  'The window is large enough that the sampling error bands are meaningful.',
] as const;

/** Width of the sampling error band in standard errors, NannyML's default. */
export const SAMPLING_ERROR_BAND_WIDTH = 3;

/** One estimated metric with its band estimate ± 3 sampling errors, clipped to [0, 1]. */
export interface EstimatedMetric {
  value: number | null;
  samplingError: number | null;
  lower: number | null;
  upper: number | null;
}

/** CBPE estimates of one window. */
export interface CbpeEstimate {
  n: number;
  auroc: EstimatedMetric;
  sensitivity: EstimatedMetric;
  specificity: EstimatedMetric;
  ppv: EstimatedMetric;
  npv: EstimatedMetric;
  accuracy: EstimatedMetric;
  /** Expected confusion-matrix cells (fractional counts). */
  expected: { tp: number; fp: number; tn: number; fn: number };
  assumptions: readonly string[];
}

/** Per-result standard deviations on the reference, from which each window's sampling error is scaled. */
interface SamplingComponents {
  /** Standard deviation and the reference share of the rows it describes. */
  auroc: [number, number];
  sensitivity: [number, number];
  specificity: [number, number];
  ppv: [number, number];
  npv: [number, number];
  accuracy: [number, number];
}

/** A CBPE model fitted on a labelled reference period. */
export interface CbpeModel {
  calibration: IsotonicFit;
  threshold: number;
  referenceN: number;
  sampling: SamplingComponents;
}

function populationStd(values: readonly number[]): number {
  if (values.length === 0) {
    return Number.NaN;
  }
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  return Math.sqrt(values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / values.length);
}

/** Std of a 0/1 indicator over the reference rows that `include` selects, and those rows' share. */
function indicatorComponent(
  include: (index: number) => boolean,
  indicator: (index: number) => boolean,
  n: number
): [number, number] {
  const values: number[] = [];
  for (let index = 0; index < n; index += 1) {
    if (include(index)) {
      values.push(indicator(index) ? 1 : 0);
    }
  }
  return [populationStd(values), values.length / n];
}

/**
 * Computes the AUROC sampling-error component as NannyML 0.13.1 does (`auroc_sampling_error_components`):
 * with the minority class as positive, the standard deviation over positives of (negatives ranked below
 * it) / (all negatives), scaled later by 1 / √(positives in the window).
 */
function aurocComponent(scores: readonly number[], labels: readonly (0 | 1)[]): [number, number] {
  const positiveShare = labels.filter((label) => label === 1).length / labels.length;
  const flip = positiveShare > 0.5;
  const y = labels.map((label) => (flip ? 1 - label : label));
  const p = scores.map((score) => (flip ? 1 - score : score));

  const order = p.map((_, index) => index).sort((a, b) => (p[a] ?? 0) - (p[b] ?? 0));
  const positives = y.filter((label) => label === 1).length;
  const negatives = y.length - positives;

  // NOTE: NannyML drops a positive at rank 0 and then counts the later positives' ranks from it, which
  // adds 1 to their terms; this mirrors that. Tied scores may still differ, because numpy's default
  // argsort is not stable and this sort is.
  const positiveRanks = order.flatMap((index, rank) => (y[index] === 1 && rank > 0 ? [rank] : []));
  const terms = positiveRanks.map((rank, position) => (rank - position) / negatives);
  return [populationStd(terms), positives / y.length];
}

/**
 * Fits CBPE on a labelled reference period: the isotonic calibration and the sampling-error components.
 * NOTE: NannyML 0.13.1 calibrates only when a cross-validated ECE check on seeded random splits says it
 * helps. This always calibrates, so on already calibrated scores its estimates differ from NannyML's.
 * @param scores - Reference probabilities.
 * @param labels - Reference labels, 1 or 0, with both classes present.
 * @param threshold - The model's positiveThreshold.
 * @throws RangeError when a class is missing from the reference.
 */
export function fitCbpe(scores: readonly number[], labels: readonly (0 | 1)[], threshold: number): CbpeModel {
  const n = labels.length;
  const positives = labels.filter((label) => label === 1).length;
  if (positives === 0 || positives === n) {
    throw new RangeError(
      `CBPE needs positive and negative labels in the reference period, got ${String(positives)} positives of ${String(n)}.`
    );
  }

  const predicted = (index: number): boolean => (scores[index] ?? 0) >= threshold;
  const positive = (index: number): boolean => labels[index] === 1;
  return {
    calibration: fitIsotonic(scores, labels),
    threshold,
    referenceN: n,
    sampling: {
      auroc: aurocComponent(scores, labels),
      sensitivity: indicatorComponent(positive, predicted, n),
      specificity: indicatorComponent(
        (index) => !positive(index),
        (index) => !predicted(index),
        n
      ),
      ppv: indicatorComponent(predicted, positive, n),
      npv: indicatorComponent(
        (index) => !predicted(index),
        (index) => !positive(index),
        n
      ),
      accuracy: indicatorComponent(
        () => true,
        (index) => predicted(index) === positive(index),
        n
      ),
    },
  };
}

/**
 * Estimates the AUROC from calibrated probabilities alone: every result counts as c positive and 1 − c
 * negative, and the ROC curve sweeps the distinct calibrated values (trapezoids, ties as one step).
 * @param calibrated - Calibrated probabilities of the window.
 * @returns The estimate, or null when every c is 0 or every c is 1.
 */
export function expectedAuroc(calibrated: readonly number[]): number | null {
  const expectedPositives = calibrated.reduce((sum, c) => sum + c, 0);
  const expectedNegatives = calibrated.length - expectedPositives;
  if (!(expectedPositives > 0) || !(expectedNegatives > 0)) {
    return null;
  }
  const sorted = [...calibrated].sort((a, b) => b - a);

  let truePositives = 0;
  let falsePositives = 0;
  let previousTpr = 0;
  let previousFpr = 0;
  let area = 0;
  sorted.forEach((c, position) => {
    truePositives += c;
    falsePositives += 1 - c;
    if (sorted[position + 1] === c) {
      return;
    }
    const tpr = truePositives / expectedPositives;
    const fpr = falsePositives / expectedNegatives;
    area += ((fpr - previousFpr) * (tpr + previousTpr)) / 2;
    previousTpr = tpr;
    previousFpr = fpr;
  });
  return area;
}

function withBand(value: number | null, component: [number, number], n: number): EstimatedMetric {
  const [std, share] = component;
  const rows = n * share;
  const samplingError = rows > 0 && Number.isFinite(std) ? std / Math.sqrt(rows) : null;
  if (value === null || samplingError === null) {
    return { value, samplingError, lower: null, upper: null };
  }
  return {
    value,
    samplingError,
    lower: Math.max(0, value - SAMPLING_ERROR_BAND_WIDTH * samplingError),
    upper: Math.min(1, value + SAMPLING_ERROR_BAND_WIDTH * samplingError),
  };
}

function ratio(numerator: number, denominator: number): number | null {
  return denominator > 0 ? numerator / denominator : null;
}

/**
 * Estimates a window's performance without labels.
 * @param model - CBPE fitted on the reference period.
 * @param scores - The window's probabilities.
 */
export function estimateCbpe(model: CbpeModel, scores: readonly number[]): CbpeEstimate {
  const calibrated = scores.map((score) => predictIsotonic(model.calibration, score));
  const expected = { tp: 0, fp: 0, tn: 0, fn: 0 };
  scores.forEach((score, index) => {
    const c = calibrated[index] ?? 0;
    if (score >= model.threshold) {
      expected.tp += c;
      expected.fp += 1 - c;
    } else {
      expected.fn += c;
      expected.tn += 1 - c;
    }
  });

  const n = scores.length;
  const { sampling } = model;
  return {
    n,
    auroc: withBand(n === 0 ? null : expectedAuroc(calibrated), sampling.auroc, n),
    sensitivity: withBand(ratio(expected.tp, expected.tp + expected.fn), sampling.sensitivity, n),
    specificity: withBand(ratio(expected.tn, expected.tn + expected.fp), sampling.specificity, n),
    ppv: withBand(ratio(expected.tp, expected.tp + expected.fp), sampling.ppv, n),
    npv: withBand(ratio(expected.tn, expected.tn + expected.fn), sampling.npv, n),
    accuracy: withBand(ratio(expected.tp + expected.tn, n), sampling.accuracy, n),
    expected,
    assumptions: CBPE_ASSUMPTIONS,
  };
}
