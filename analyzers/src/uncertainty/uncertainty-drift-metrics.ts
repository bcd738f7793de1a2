/**
 * Uncertainty drift metrics of one tested window, written beside the output drift metrics: KS of the
 * reported probabilities' entropies, and KS of the MC dropout mutual information where results have it.
 */
import { METRICS, type MetricDocument } from '../store/documents.js';
import type { ResultsStore, WindowResult } from '../store/results-store.js';
import { testUncertaintyDrift, type UncertaintyDriftResult } from './uncertainty-drift.js';

/** Fields every metric of the window shares (model, version, subgroup, window, n, time, analyzer). */
export type WindowMetricBase = Omit<MetricDocument, 'metric' | 'value'>;

/**
 * Tests and stores the uncertainty drift of a window against the pooled reference windows.
 * @param store - Metric store.
 * @param base - Shared metric fields; `n` is replaced by each test's current count.
 * @param current - The window's results.
 * @param reference - The reference windows' results.
 * @param options - p-value threshold, minimum n and reference window keys.
 * @returns The entropy test, and the mutual information test when both sides have MC dropout values.
 */
export async function recordUncertaintyDrift(
  store: ResultsStore,
  base: WindowMetricBase,
  current: readonly WindowResult[],
  reference: readonly WindowResult[],
  options: { pThreshold: number; minN: number; referenceWindows: string[] }
): Promise<{ entropy?: UncertaintyDriftResult; mutualInformation?: UncertaintyDriftResult }> {
  const tests: { entropy?: UncertaintyDriftResult; mutualInformation?: UncertaintyDriftResult } = {};
  const samples = [
    ['entropy', METRICS.uncertaintyDriftKs, (result: WindowResult) => result.entropy],
    ['mutualInformation', METRICS.mcUncertaintyDriftKs, (result: WindowResult) => result.mcMutualInformation],
  ] as const;

  for (const [name, metric, scoreOf] of samples) {
    const currentScores = current.map(scoreOf).filter((value): value is number => value !== undefined);
    const referenceScores = reference.map(scoreOf).filter((value): value is number => value !== undefined);
    if (currentScores.length === 0 || referenceScores.length === 0) {
      continue;
    }

    const result = testUncertaintyDrift(referenceScores, currentScores, options);
    tests[name] = result;
    await store.upsertMetric({
      ...base,
      metric,
      n: result.nCurrent,
      value: result.pValue,
      statistic: result.statistic,
      pValueMethod: result.pValueMethod,
      threshold: result.threshold,
      detected: result.detected,
      status: result.status,
      minN: options.minN,
      referenceN: result.nReference,
      referenceWindows: options.referenceWindows,
    });
  }
  return tests;
}
