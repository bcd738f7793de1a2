/** Groups a patient's AI result rows by model, so each model's results read as one block. */
import type { AiResultRow } from '../results.js';

/** The results of one model name and version, in the order of the search (newest first). */
export interface ModelResultGroup {
  /** Model name and version, such as `Demo Sepsis Deterioration Risk v2.1.0`. */
  label: string;
  rows: AiResultRow[];
}

/** Groups rows by model name and version. Groups are in the order of their newest result. */
export function groupResultsByModel(rows: readonly AiResultRow[]): ModelResultGroup[] {
  const groups = new Map<string, ModelResultGroup>();
  for (const row of rows) {
    const label = row.modelVersion === undefined ? row.modelName : `${row.modelName} v${row.modelVersion}`;
    const group = groups.get(label) ?? { label, rows: [] };
    group.rows.push(row);
    groups.set(label, group);
  }
  return [...groups.values()];
}
