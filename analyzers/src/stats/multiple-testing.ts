/**
 * Corrections of p-values for testing many features at once. Bonferroni: p' = min(1, m·p). Benjamini–Hochberg
 * (false discovery rate): with p sorted ascending, p'_(i) = min over j ≥ i of min(1, m·p_(j)/j), the adjusted
 * values of statsmodels' `multipletests(method='fdr_bh')`. m counts the finite p-values; NaN stays NaN.
 */

/** Correction names accepted by the drift report. */
export type PValueCorrection = 'none' | 'bonferroni' | 'benjamini-hochberg';

/**
 * Adjusts p-values.
 * @param pValues - Raw p-values; NaN entries are kept and not counted.
 * @param correction - The correction.
 * @returns Adjusted p-values in input order.
 */
export function adjustPValues(pValues: readonly number[], correction: PValueCorrection): number[] {
  const finite = pValues.flatMap((pValue, index) => (Number.isNaN(pValue) ? [] : [{ pValue, index }]));
  const m = finite.length;
  const adjusted = [...pValues];
  if (correction === 'none' || m === 0) {
    return adjusted;
  }

  if (correction === 'bonferroni') {
    for (const { pValue, index } of finite) {
      adjusted[index] = Math.min(1, pValue * m);
    }
    return adjusted;
  }

  // Step up from the largest p-value so each adjusted value is the minimum over the ranks at or above it.
  finite.sort((a, b) => a.pValue - b.pValue);
  let runningMinimum = 1;
  for (let rank = m; rank >= 1; rank -= 1) {
    const entry = finite[rank - 1];
    if (entry === undefined) {
      continue;
    }
    runningMinimum = Math.min(runningMinimum, (entry.pValue * m) / rank);
    adjusted[entry.index] = runningMinimum;
  }
  return adjusted;
}
