/**
 * Alert rules per model, subgroup and metric, read from a JSON file (by default
 * common/models/alert-rules.json, or the file in MONITORMED_ALERT_RULES_FILE).
 */
import { readFileSync } from 'node:fs';
import type { AlertDirection, AlertResponse } from '@monitormed/common';
import { AlertRuleError } from './alert-rule-error.js';

/** One alert rule. */
export interface AlertRule {
  /** Stable id, part of the alert key and of the Device Flag's identifier. */
  ruleId: string;
  modelId: string;
  /** Metric name in the metrics collection, such as `performance-sensitivity`. */
  metric: string;
  /** Subgroup keys the rule watches, such as `all` or `sex:female`. */
  subgroups: string[];
  direction: AlertDirection;
  threshold: number;
  /** Breaching windows in a row needed to open an alert. */
  consecutiveWindows: number;
  /** Windows with fewer results are `insufficient-data`: they neither breach nor recover. */
  minN: number;
  response: AlertResponse;
}

const DEFAULT_RULES_URL = new URL('../../../common/models/alert-rules.json', import.meta.url);

function requireString(rule: Record<string, unknown>, field: string, where: string): string {
  const value = rule[field];
  if (typeof value !== 'string' || value.length === 0) {
    throw new AlertRuleError(`${where}: field "${field}" must be a non-empty string.`);
  }
  return value;
}

function requireNumber(
  rule: Record<string, unknown>,
  field: string,
  where: string,
  integer: boolean
): number {
  const value = rule[field];
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    (integer && (!Number.isInteger(value) || value < 1))
  ) {
    throw new AlertRuleError(
      `${where}: field "${field}" must be ${integer ? 'an integer of at least 1' : 'a finite number'}, got ${JSON.stringify(value)}.`
    );
  }
  return value;
}

/**
 * Validates parsed rules.
 * @param parsed - The file's JSON: `{ "rules": [...] }`.
 * @param source - File name for error messages.
 * @throws AlertRuleError naming the rule and the invalid field.
 */
export function parseAlertRules(parsed: unknown, source: string): AlertRule[] {
  const rules = (parsed as { rules?: unknown } | null)?.rules;
  if (!Array.isArray(rules)) {
    throw new AlertRuleError(`${source} must be a JSON object with a "rules" array.`);
  }

  const seen = new Set<string>();
  return rules.map((entry: unknown, index) => {
    if (typeof entry !== 'object' || entry === null) {
      throw new AlertRuleError(`${source}: rule ${String(index)} must be an object.`);
    }
    const rule = entry as Record<string, unknown>;
    const where = `${source}: rule ${String(index)}`;
    const ruleId = requireString(rule, 'ruleId', where);
    if (seen.has(ruleId)) {
      throw new AlertRuleError(`${where}: ruleId "${ruleId}" is used twice; rule ids must be unique.`);
    }
    seen.add(ruleId);

    const direction = rule['direction'];
    if (direction !== 'below' && direction !== 'above') {
      throw new AlertRuleError(
        `${where}: direction must be "below" or "above", got ${JSON.stringify(direction)}.`
      );
    }
    const subgroups = rule['subgroups'];
    if (
      !Array.isArray(subgroups) ||
      subgroups.length === 0 ||
      !subgroups.every((s) => typeof s === 'string')
    ) {
      throw new AlertRuleError(
        `${where}: subgroups must be a non-empty array of subgroup keys such as "all".`
      );
    }
    const response = rule['response'] as Record<string, unknown> | undefined;
    if (typeof response !== 'object') {
      throw new AlertRuleError(`${where}: response must be an object with "owner" and "action".`);
    }

    return {
      ruleId,
      modelId: requireString(rule, 'modelId', where),
      metric: requireString(rule, 'metric', where),
      subgroups,
      direction,
      threshold: requireNumber(rule, 'threshold', where, false),
      consecutiveWindows: requireNumber(rule, 'consecutiveWindows', where, true),
      minN: requireNumber(rule, 'minN', where, true),
      response: {
        owner: requireString(response, 'owner', `${where} response`),
        action: requireString(response, 'action', `${where} response`),
      },
    };
  });
}

/**
 * Reads alert rules from `path`, MONITORMED_ALERT_RULES_FILE or the demo rules.
 * @throws AlertRuleError when the file is missing, not JSON, or a rule is invalid.
 */
export function loadAlertRules(path?: string): AlertRule[] {
  const source = path ?? process.env['MONITORMED_ALERT_RULES_FILE'] ?? DEFAULT_RULES_URL;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(source, 'utf8'));
  } catch (err) {
    throw new AlertRuleError(`Cannot read alert rules ${String(source)}: ${(err as Error).message}`);
  }
  return parseAlertRules(parsed, String(source));
}
