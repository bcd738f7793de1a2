/**
 * Settings of the input-feature drift test, read from environment variables: the p-value correction across
 * features, the dataset drift share, and the threshold rule per model.
 */
import { ConfigError } from '@monitormed/common';
import type { Env } from '../settings.js';
import type { PValueCorrection } from '../stats/multiple-testing.js';
import { DEFAULT_DRIFT_SHARE } from '../stats/select-test.js';

/**
 * Rule that decides a feature's drift: `evidently` applies the automatically chosen test's own threshold
 * (p < 0.05 or distance ≥ 0.1); `nannyml` flags a statistic outside the reference chunks' mean ± 3 std.
 */
export type ThresholdMode = 'evidently' | 'nannyml';

/** Feature drift settings. */
export interface FeatureDriftSettings {
  /** Correction of the p-values across features (DRIFT_CORRECTION: none, bonferroni or bh). */
  correction: PValueCorrection;
  /** Share of drifted features at or above which the dataset drifts (DRIFT_SHARE). */
  driftShare: number;
  /** Rule of models not listed in `thresholdModeByModel` (DRIFT_THRESHOLD_MODE). */
  thresholdMode: ThresholdMode;
  /** Rule per model id (DRIFT_THRESHOLD_MODE_BY_MODEL, such as `sepsis-risk=nannyml,cxr-pneumothorax=evidently`). */
  thresholdModeByModel: Map<string, ThresholdMode>;
}

function parseMode(value: string, variable: string): ThresholdMode {
  if (value === 'evidently' || value === 'nannyml') {
    return value;
  }
  throw new ConfigError(`Invalid ${variable} value '${value}': expected evidently or nannyml.`);
}

/**
 * Reads the settings from `env`, with defaults (no correction, share 0.5, Evidently thresholds).
 * @throws ConfigError when a variable is set to an unusable value.
 */
export function loadFeatureDriftSettings(env: Env = process.env): FeatureDriftSettings {
  const correctionNames: Record<string, PValueCorrection> = {
    none: 'none',
    bonferroni: 'bonferroni',
    bh: 'benjamini-hochberg',
    'benjamini-hochberg': 'benjamini-hochberg',
  };
  const rawCorrection = env['DRIFT_CORRECTION'] ?? 'none';
  const correction = correctionNames[rawCorrection === '' ? 'none' : rawCorrection];
  if (correction === undefined) {
    throw new ConfigError(`Invalid DRIFT_CORRECTION="${rawCorrection}": expected none, bonferroni or bh.`);
  }

  const rawShare = env['DRIFT_SHARE'];
  const driftShare = rawShare === undefined || rawShare === '' ? DEFAULT_DRIFT_SHARE : Number(rawShare);
  if (!Number.isFinite(driftShare) || driftShare <= 0 || driftShare > 1) {
    throw new ConfigError(
      `Invalid DRIFT_SHARE="${String(rawShare)}": expected a share above 0 and at most 1.`
    );
  }

  const thresholdMode = parseMode(env['DRIFT_THRESHOLD_MODE'] || 'evidently', 'DRIFT_THRESHOLD_MODE');
  const thresholdModeByModel = new Map<string, ThresholdMode>();
  for (const entry of (env['DRIFT_THRESHOLD_MODE_BY_MODEL'] ?? '')
    .split(',')
    .filter((item) => item.trim() !== '')) {
    const [modelId, mode] = entry.split('=').map((part) => part.trim());
    if (modelId === undefined || modelId === '' || mode === undefined) {
      throw new ConfigError(
        `Invalid DRIFT_THRESHOLD_MODE_BY_MODEL entry '${entry}': expected model=evidently or model=nannyml.`
      );
    }
    thresholdModeByModel.set(modelId, parseMode(mode, 'DRIFT_THRESHOLD_MODE_BY_MODEL'));
  }
  return { correction, driftShare, thresholdMode, thresholdModeByModel };
}
