/**
 * Reference profiles: the sketches a model version's windows are compared with, built from an uploaded CSV
 * file (training or validation data) or from chosen production windows. A profile is stored as sketches of
 * granularity `reference` (the whole) and `reference-chunk` (its chunks, for NannyML-style thresholds), and
 * as metric documents of window `reference`, so the evaluation query returns it like any window.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parse } from 'csv-parse/sync';
import { mergeSketches, type FeatureSketch } from '../sketches/feature-sketch.js';
import { writeWindow } from '../workers/rollup-window.js';
import { chunkByCount } from '../workers/windows.js';
import {
  ALL_SUBGROUP,
  OUTPUT_FEATURES,
  REFERENCE_WINDOW,
  type ReferenceProfileDocument,
  type ReferenceSource,
  type SketchDocument,
} from './evaluation-documents.js';
import type { EvaluationStore } from './evaluation-store.js';
import { sketchColumns, type ColumnValues } from './sketch-metrics.js';

/** Chunks an uploaded reference is split into, as NannyML's DefaultChunker does. */
export const REFERENCE_CHUNKS = 10;

/** CSV column that contains the model's output probability. Every other column is an input feature. */
export const SCORE_COLUMN = 'score';

/** Invalid reference data. The message states what to fix. */
export class ReferenceDataError extends Error {
  override name = 'ReferenceDataError';
}

/**
 * Reads a CSV file with a header row into columns: numerical when every non-empty cell is a number,
 * categorical otherwise; empty cells are missing values.
 * @throws ReferenceDataError when the file cannot be read, has no data row, or its rows have different lengths.
 */
export function readReferenceCsv(path: string): { columns: ColumnValues; rows: number } {
  let records: string[][];
  try {
    records = parse(readFileSync(path, 'utf8'), {
      skip_empty_lines: true,
      trim: true,
      bom: true,
    });
  } catch (err) {
    throw new ReferenceDataError(`Cannot read reference CSV '${path}': ${(err as Error).message}`);
  }
  const [header, ...rows] = records;
  if (header === undefined || rows.length === 0) {
    throw new ReferenceDataError(
      `Reference CSV '${path}' has no data row; give a header row and at least one row.`
    );
  }

  const columns: ColumnValues = new Map();
  for (const [index, name] of header.entries()) {
    const cells = rows.map((row) => row[index] ?? '');
    const numeric = cells.every((cell) => cell === '' || Number.isFinite(Number(cell)));
    const values = cells.map((cell) => {
      if (cell === '') {
        return null;
      }
      return numeric ? Number(cell) : cell;
    });
    columns.set(name === SCORE_COLUMN ? OUTPUT_FEATURES.score : name, values);
  }
  const score = columns.get(OUTPUT_FEATURES.score);
  if (
    score?.some(
      (value) => typeof value === 'string' || (typeof value === 'number' && (value < 0 || value > 1))
    )
  ) {
    throw new ReferenceDataError(
      `Column '${SCORE_COLUMN}' of '${path}' must contain probabilities from 0 to 1.`
    );
  }
  return { columns, rows: rows.length };
}

/**
 * Stores a reference profile built from uploaded rows: the whole and {@link REFERENCE_CHUNKS} row chunks.
 * @returns The stored description.
 */
export async function uploadReferenceProfile(
  store: EvaluationStore,
  options: { modelId: string; modelVersion: string; path: string }
): Promise<ReferenceProfileDocument> {
  const { columns, rows } = readReferenceCsv(options.path);
  const { modelId, modelVersion } = options;
  const whole = await sketchColumns(store, modelId, modelVersion, columns);

  const chunkCount = Math.min(REFERENCE_CHUNKS, rows);
  const chunks = new Map<string, Map<string, FeatureSketch>>();
  const indices = Array.from({ length: rows }, (_, index) => index);
  for (const chunk of chunkByCount(indices, chunkCount)) {
    const chunkColumns: ColumnValues = new Map(
      [...columns].map(([name, values]) => [name, chunk.rows.map((row) => values[row] ?? null)])
    );
    chunks.set(chunk.key, await sketchColumns(store, modelId, modelVersion, chunkColumns));
  }

  return saveProfile(
    store,
    modelId,
    modelVersion,
    { kind: 'upload', fileName: basename(options.path) },
    rows,
    whole,
    chunks
  );
}

/** Windows of a reference period: the first `firstWindows` day windows, or the days from `from` to `to`. */
export type ReferencePeriod = { firstWindows: number } | { from: string; to: string };

/**
 * Stores a reference profile merged from day-window sketches, without re-reading results. Each day is one
 * reference chunk.
 * @throws ReferenceDataError when the period contains no rolled-up day.
 */
export async function buildReferenceFromWindows(
  store: EvaluationStore,
  options: { modelId: string; modelVersion: string; period: ReferencePeriod }
): Promise<ReferenceProfileDocument> {
  const { modelId, modelVersion, period } = options;
  const allDays = await store.sketchWindows(modelId, modelVersion, 'day');
  const days =
    'firstWindows' in period
      ? allDays.slice(0, period.firstWindows)
      : allDays.filter((day) => day >= period.from && day <= period.to);
  if (days.length === 0) {
    throw new ReferenceDataError(
      `Model ${modelId} version ${modelVersion} has no rolled-up day window in the reference period; choose days that have results.`
    );
  }

  const documents = await store.findSketches({
    modelId,
    modelVersion,
    granularity: 'day',
    subgroup: ALL_SUBGROUP,
    windows: days,
  });
  const whole = new Map<string, FeatureSketch>();
  const chunks = new Map<string, Map<string, FeatureSketch>>();
  for (const document of documents) {
    const previous = whole.get(document.feature);
    whole.set(
      document.feature,
      previous === undefined ? document.sketch : mergeSketches(previous, document.sketch)
    );
    const chunk = chunks.get(document.window) ?? new Map<string, FeatureSketch>();
    chunk.set(document.feature, document.sketch);
    chunks.set(document.window, chunk);
  }

  const rows = whole.get(OUTPUT_FEATURES.score);
  const source: ReferenceSource =
    'firstWindows' in period
      ? { kind: 'windows', windows: days }
      : { kind: 'date-range', from: period.from, to: period.to };
  return saveProfile(
    store,
    modelId,
    modelVersion,
    source,
    rows === undefined ? 0 : rows.count + rows.missing,
    whole,
    chunks
  );
}

async function saveProfile(
  store: EvaluationStore,
  modelId: string,
  modelVersion: string,
  source: ReferenceSource,
  rows: number,
  whole: ReadonlyMap<string, FeatureSketch>,
  chunks: ReadonlyMap<string, ReadonlyMap<string, FeatureSketch>>
): Promise<ReferenceProfileDocument> {
  await writeWindow(store, modelId, modelVersion, 'reference', { key: REFERENCE_WINDOW, start: null }, whole);

  const now = new Date();
  const chunkDocuments: SketchDocument[] = [...chunks].flatMap(([key, sketches]) =>
    [...sketches].map(([feature, sketch]) => ({
      modelId,
      modelVersion,
      feature,
      subgroup: ALL_SUBGROUP,
      granularity: 'reference-chunk' as const,
      window: key,
      windowStart: null,
      sketch,
      updatedAt: now,
    }))
  );
  await store.upsertSketches(chunkDocuments);

  // NOTE: chunks of an older profile with other keys stay stored, because deleting them first would leave a
  // profile replaced mid-evaluation briefly without chunks. Readers select chunks by `chunkKeys`.
  const profile: ReferenceProfileDocument = {
    _id: `${modelId}|${modelVersion}`,
    modelId,
    modelVersion,
    source,
    rows,
    features: [...whole].map(([name, sketch]) => ({ name, kind: sketch.kind })),
    chunkKeys: [...chunks.keys()],
    createdAt: now,
  };
  await store.saveReferenceProfile(profile);
  return profile;
}
