/** Text formats of the values in the results table; they are plain functions so tests can call them. */
import type { DriftStatus } from './results.js';

/** Placeholder shown in a cell whose value the resource does not contain. */
export const MISSING_VALUE = '—';

/**
 * Formats a number from 0 to 1 (probability, confidence) with three decimals.
 * @param value - The number, or undefined when the resource lacks it.
 * @returns Text such as `0.870`, or the missing-value placeholder.
 */
export function formatDecimal(value: number | undefined): string {
  return value === undefined ? MISSING_VALUE : value.toFixed(3);
}

/**
 * Formats a FHIR dateTime in UTC, so the page reads the same in every browser time zone.
 * @param value - A FHIR dateTime such as `2026-03-14T10:22:00Z`; date-only values are shown as they are.
 * @returns Text such as `2026-03-14 10:22 UTC`.
 */
export function formatDateTime(value: string | undefined): string {
  if (value === undefined) {
    return MISSING_VALUE;
  }
  if (!value.includes('T')) {
    return value;
  }

  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime())) {
    return value;
  }
  return `${parsed.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/**
 * Formats the drift status of a result's model.
 * @param drift - The status from DRIFT_EXTENSION, or undefined when drift was not evaluated.
 * @returns Text such as `Drift detected (p = 0.003, window 2026-03-14)`.
 */
export function formatDrift(drift: DriftStatus | undefined): string {
  if (drift === undefined) {
    return 'Not evaluated';
  }

  let verdict = 'Drift status unknown';
  if (drift.detected === true) {
    verdict = 'Drift detected';
  } else if (drift.detected === false) {
    verdict = 'No drift';
  }

  const details: string[] = [];
  if (drift.pValue !== undefined) {
    details.push(`p = ${String(Number(drift.pValue.toPrecision(2)))}`);
  }
  if (drift.window !== undefined) {
    details.push(`window ${drift.window}`);
  }
  return details.length === 0 ? verdict : `${verdict} (${details.join(', ')})`;
}

/** Formats a chart value with at most 4 significant digits, or a dash when there is none. */
export function formatMetricValue(value: number | string | undefined): string {
  if (value === undefined) {
    return '–';
  }
  return typeof value === 'number' ? String(Number(value.toPrecision(4))) : value;
}
