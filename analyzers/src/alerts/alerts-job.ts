/**
 * Processor of the alerts queue (ALERTS_QUEUE in jobs/definitions.ts): computes the performance metrics of
 * the job's model and window, then evaluates the model's alert rules on them.
 */
import type { AiModelDefinition } from '@monitormed/common';
import type Bull from 'bull';
import type { EvaluateAlertsJob } from '../jobs/definitions.js';
import { computePerformanceWindow, type PerformanceSettings } from '../performance/performance-window.js';
import { AlertService, type AlertServiceDeps, type RuleOutcome } from './alert-service.js';

/** Dependencies of {@link processAlertsJob}. */
export interface AlertsJobDeps extends AlertServiceDeps {
  performance: PerformanceSettings;
}

/** Minimum n of performance metrics when MONITORMED_PERFORMANCE_MIN_N is not set. */
export const DEFAULT_PERFORMANCE_MIN_N = 30;

function positiveInteger(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got "${raw}".`);
  }
  return value;
}

/**
 * Reads the performance settings: MONITORMED_PERFORMANCE_MIN_N (default 30), MONITORMED_ECE_BINS (default
 * 10), MONITORMED_AGE_BANDS (lower bounds of the age bands, default 18,40,65,80), and MONITORMED_CBPE_REFERENCE_FROM and MONITORMED_CBPE_REFERENCE_TO (inclusive UTC days
 * `YYYY-MM-DD`; without both, no CBPE estimate is made).
 * @throws RangeError naming the invalid variable.
 */
export function loadPerformanceSettings(env: NodeJS.ProcessEnv = process.env): PerformanceSettings {
  const settings: PerformanceSettings = {
    minN: positiveInteger(env, 'MONITORMED_PERFORMANCE_MIN_N', DEFAULT_PERFORMANCE_MIN_N),
    eceBins: positiveInteger(env, 'MONITORMED_ECE_BINS', 10),
  };
  const ageBands = env['MONITORMED_AGE_BANDS'];
  if (ageBands !== undefined && ageBands !== '') {
    const bounds = ageBands.split(',').map((bound) => Number(bound.trim()));
    const ascending = bounds.every(
      (bound, index) =>
        Number.isInteger(bound) && bound >= 0 && (index === 0 || bound > (bounds[index - 1] ?? 0))
    );
    if (!ascending) {
      throw new RangeError(
        `MONITORMED_AGE_BANDS must be ascending whole years such as "18,40,65,80", got "${ageBands}".`
      );
    }
    settings.ageBands = bounds;
  }

  const fromDay = env['MONITORMED_CBPE_REFERENCE_FROM'];
  const toDay = env['MONITORMED_CBPE_REFERENCE_TO'];
  if ((fromDay === undefined) !== (toDay === undefined)) {
    throw new RangeError(
      'Set both MONITORMED_CBPE_REFERENCE_FROM and MONITORMED_CBPE_REFERENCE_TO, or neither.'
    );
  }
  if (fromDay !== undefined && toDay !== undefined) {
    for (const [name, day] of [
      ['MONITORMED_CBPE_REFERENCE_FROM', fromDay],
      ['MONITORMED_CBPE_REFERENCE_TO', toDay],
    ]) {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(day ?? '')) {
        throw new RangeError(`${String(name)} must be a UTC day YYYY-MM-DD, got "${String(day)}".`);
      }
    }
    settings.cbpeReference = { fromDay, toDay };
  }
  return settings;
}

/**
 * Computes the window's performance metrics and evaluates the model's alert rules.
 * @returns The decision of each rule and subgroup.
 * @throws Error when the model is not in the catalog, so the job fails visibly and goes to the dead letters.
 */
export async function processAlertsJob(
  deps: AlertsJobDeps,
  job: Bull.Job<EvaluateAlertsJob>
): Promise<RuleOutcome[]> {
  const { modelId, window } = job.data;
  const model: AiModelDefinition | undefined = deps.models.find((candidate) => candidate.modelId === modelId);
  if (model === undefined) {
    throw new Error(`Alerts job ${String(job.id)}: model ${modelId} is not in the model catalog.`);
  }

  const written = await computePerformanceWindow(deps.db, model, window, deps.performance, deps.fhir);
  const outcomes = await new AlertService(deps).evaluate(modelId, window);
  deps.log.info(
    {
      jobId: job.id,
      modelId,
      window,
      metrics: written.length,
      opened: outcomes.filter((o) => o.decision === 'open').length,
    },
    'Alerts evaluated'
  );
  return outcomes;
}
