/**
 * The two rules that raise a high-uncertainty Flag from a reported probability p: the entropy rule
 * (binary entropy at or above a threshold in bits) and the margin rule (margin |2p − 1| below a width).
 *
 * The margin rule is alibi-detect's `uncertainty_type='margin'` (alibi_detect.cd.preprocess
 * `classifier_uncertainty`, default `margin_width=0.1`): a prediction is uncertain when its two highest
 * class probabilities differ by less than the width. For a binary model those are p and 1 − p.
 */
import { binaryEntropyBits, decisionMargin } from '../stats/entropy.js';

/** A rule that can raise a high-uncertainty Flag, named by the uncertainty method code it applies. */
export type UncertaintyRule = 'entropy' | 'margin';

/** Limits of the two rules, from UNCERTAINTY_THRESHOLD_BITS and UNCERTAINTY_MARGIN_WIDTH. */
export interface UncertaintyLimits {
  /** Entropy in bits at or above which the entropy rule fires. */
  entropyThresholdBits: number;
  /** Margin below which the margin rule fires. A width of 0 turns the rule off. */
  marginWidth: number;
}

/** Uncertainty of one reported probability, with the limits in force and the rules that fired. */
export interface UncertaintyAssessment extends UncertaintyLimits {
  /** Binary predictive entropy of p, in bits. */
  entropyBits: number;
  /** |2p − 1|, from 0 on the decision boundary to 1 for a certain call. */
  margin: number;
  /** Rules that fired, entropy first, or none when the result is not flagged. */
  flaggedBy: UncertaintyRule[];
}

// A decimal score such as 0.45 has no exact binary form, so |2p − 1| comes out as 0.09999999999999998
// for it and 0.10000000000000009 for 0.55. A margin this close to the width counts as equal to the width,
// so both scores are treated alike and neither is below a width of 0.1.
const MARGIN_TOLERANCE = 1e-12;

/**
 * Computes the entropy and margin of a reported probability and applies both rules.
 * @param probability - The model's positive-class probability, from 0 to 1.
 * @param limits - The entropy threshold and the margin width in force.
 * @returns The values, the limits and the rules that fired.
 * @throws RangeError when `probability` is not a finite number in [0, 1].
 */
export function assessUncertainty(probability: number, limits: UncertaintyLimits): UncertaintyAssessment {
  const entropyBits = binaryEntropyBits(probability);
  const margin = decisionMargin(probability);

  const flaggedBy: UncertaintyRule[] = [];
  if (entropyBits >= limits.entropyThresholdBits) {
    flaggedBy.push('entropy');
  }
  if (margin < limits.marginWidth - MARGIN_TOLERANCE) {
    flaggedBy.push('margin');
  }

  return {
    entropyBits,
    margin,
    entropyThresholdBits: limits.entropyThresholdBits,
    marginWidth: limits.marginWidth,
    flaggedBy,
  };
}
