/**
 * The decision of one alert rule on one subgroup's metric series: open after k breaching windows in a row,
 * resolve at the first window with enough results that no longer breaches. Pure, so it is tested alone.
 */
import type { AlertRule } from './rules.js';

/** One window's metric value. `lower` and `upper` are its 95% interval when the metric has one. */
export interface MetricPoint {
  window: string;
  value: number | null;
  n: number;
  lower?: number | null;
  upper?: number | null;
}

/** Verdict of one window against a rule. */
export type WindowVerdict = 'breach' | 'ok' | 'insufficient-data';

/** Action of the alerts job for one rule and subgroup, with the verdict behind it. */
export interface RuleDecision {
  action: 'open' | 'resolve' | 'none';
  /** Verdict of the last window of the series. */
  verdict: WindowVerdict;
  /** The breaching windows of the run that opens the alert, oldest first. */
  breachingWindows: string[];
  last: MetricPoint | undefined;
}

/**
 * Classifies one window. A window with fewer than `minN` results, or without a value, is
 * `insufficient-data`. When the metric has an interval, a window breaches only if the whole interval lies
 * past the threshold, so a small subgroup's noisy point estimate alone raises no alarm.
 */
export function classifyWindow(rule: AlertRule, point: MetricPoint): WindowVerdict {
  if (point.value === null || point.n < rule.minN) {
    return 'insufficient-data';
  }
  const past = (value: number): boolean =>
    rule.direction === 'below' ? value < rule.threshold : value > rule.threshold;
  if (!past(point.value)) {
    return 'ok';
  }

  // The interval bound nearest to the threshold must be past it too.
  const nearestBound = rule.direction === 'below' ? point.upper : point.lower;
  if (nearestBound !== undefined && nearestBound !== null && !past(nearestBound)) {
    return 'ok';
  }
  return 'breach';
}

/**
 * Decides a rule on a window series.
 * @param rule - The rule.
 * @param series - Windows up to the evaluated one, oldest first.
 * @param alertOpen - Whether an alert of this rule, model and subgroup is open now.
 */
export function decideRule(
  rule: AlertRule,
  series: readonly MetricPoint[],
  alertOpen: boolean
): RuleDecision {
  const last = series.at(-1);
  if (last === undefined) {
    return { action: 'none', verdict: 'insufficient-data', breachingWindows: [], last };
  }
  const verdict = classifyWindow(rule, last);

  if (alertOpen) {
    // Only a window with enough results shows that the metric recovered.
    return { action: verdict === 'ok' ? 'resolve' : 'none', verdict, breachingWindows: [], last };
  }

  // Count the run of breaching windows that ends at the last window. A window with too few results ends
  // the run too, so breaches separated by unknown windows do not add up.
  const run: string[] = [];
  for (let index = series.length - 1; index >= 0; index -= 1) {
    const point = series[index];
    if (point === undefined || classifyWindow(rule, point) !== 'breach') {
      break;
    }
    run.unshift(point.window);
  }
  if (run.length >= rule.consecutiveWindows) {
    return { action: 'open', verdict, breachingWindows: run.slice(-rule.consecutiveWindows), last };
  }
  return { action: 'none', verdict, breachingWindows: [], last };
}
