/**
 * Two-proportion Z-test as Evidently 0.7's `z` stattest runs it on a column with at most two distinct values.
 * The smallest distinct value (in sort order) is coded 0 and every other value 1; with p1, p2 the shares of 1 in
 * reference and current and P = (n1·p1 + n2·p2)/(n1 + n2) the pooled share,
 * z = (p1 − p2)/√(P·(1 − P)·(1/n1 + 1/n2)) and the two-sided p = 2·(1 − Φ(|z|)). When both samples contain
 * only the same single value Evidently returns p = 1 without computing z. Drift when p < threshold (0.05).
 */
import { ColumnSamples, type ColumnValue, type SampleValues } from './column-samples.js';
import { normalCdf } from './gamma.js';

/** Statistic and p-value of a Z-test; `statistic` is null when Evidently's constant-column shortcut applied. */
export interface ZTestResult {
  statistic: number | null;
  pValue: number;
}

/**
 * Runs the two-proportion Z-test.
 * @param reference - Reference sample without missing values, not empty.
 * @param current - Current sample without missing values, not empty.
 * @returns z and its two-sided p-value.
 */
export function zTest(reference: SampleValues, current: SampleValues): ZTestResult {
  return zTestOf(ColumnSamples.of(reference, current, 'categorical'));
}

/**
 * Runs {@link zTest} on prepared samples.
 * @param samples - The column's samples.
 * @returns z and its two-sided p-value.
 */
export function zTestOf(samples: ColumnSamples): ZTestResult {
  const counts = samples.valueCounts();
  // One distinct value over both samples means both contain only that value.
  if (counts.keys.length === 1) {
    return { statistic: null, pValue: 1 };
  }

  let zeroIndex = 0;
  for (const [index, key] of counts.keys.entries()) {
    if (compareValues(key, counts.keys[zeroIndex] ?? key) < 0) {
      zeroIndex = index;
    }
  }
  const n1 = samples.referenceSize;
  const n2 = samples.currentSize;
  const p1 = (n1 - (counts.reference[zeroIndex] ?? 0)) / n1;
  const p2 = (n2 - (counts.current[zeroIndex] ?? 0)) / n2;
  const pooled = (p1 * n1 + p2 * n2) / (n1 + n2);

  const statistic = (p1 - p2) / Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  return { statistic, pValue: 2 * (1 - normalCdf(Math.abs(statistic))) };
}

/** Orders numbers numerically and strings by code unit, like Python's sorted() on one type. */
function compareValues(a: ColumnValue, b: ColumnValue): number {
  if (typeof a === 'number' && typeof b === 'number') {
    return a - b;
  }
  const left = String(a);
  const right = String(b);
  if (left < right) {
    return -1;
  }
  return left > right ? 1 : 0;
}
