/**
 * Two-proportion Z-test as Evidently 0.7's `z` stattest runs it on a column with at most two distinct values.
 * The smallest distinct value (in sort order) is coded 0 and every other value 1; with p1, p2 the shares of 1 in
 * reference and current and P = (n1·p1 + n2·p2)/(n1 + n2) the pooled share,
 * z = (p1 − p2)/√(P·(1 − P)·(1/n1 + 1/n2)) and the two-sided p = 2·(1 − Φ(|z|)). When both samples contain
 * only the same single value Evidently returns p = 1 without computing z. Drift when p < threshold (0.05).
 */
import { countValues, distinctValues, type ColumnValue } from './binned-shares.js';
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
export function zTest(reference: readonly ColumnValue[], current: readonly ColumnValue[]): ZTestResult {
  const referenceCounts = countValues(reference);
  const currentCounts = countValues(current);
  if (referenceCounts.size === 1 && currentCounts.size === 1) {
    const [onlyReference] = referenceCounts.keys();
    if (onlyReference !== undefined && currentCounts.has(onlyReference)) {
      return { statistic: null, pValue: 1 };
    }
  }

  const zeroKey = distinctValues(reference, current).sort(compareValues)[0];
  const n1 = reference.length;
  const n2 = current.length;
  const p1 = (n1 - (referenceCounts.get(zeroKey ?? '') ?? 0)) / n1;
  const p2 = (n2 - (currentCounts.get(zeroKey ?? '') ?? 0)) / n2;
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
