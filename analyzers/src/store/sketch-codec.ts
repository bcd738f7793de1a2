/**
 * Storage form of feature sketches: the quantile grid of a numeric sketch is stored sparsely (cells with a
 * count only). A dense array of 1,024 mostly-zero counts makes each FerretDB write several times slower,
 * while a day window of a few dozen results fills only a few dozen cells.
 */
import type { FeatureSketch } from '../sketches/feature-sketch.js';
import { QUANTILE_GRID_CELLS, type NumericSketch } from '../sketches/numeric-sketch.js';

/** A numeric sketch with the grid as parallel arrays of non-empty cell indices and their counts. */
export type StoredNumericSketch = Omit<NumericSketch, 'grid'> & { gridCells: number[]; gridCounts: number[] };

/** A sketch as stored in Mongo. */
export type StoredSketch = Exclude<FeatureSketch, NumericSketch> | StoredNumericSketch;

/** Converts a sketch to its storage form. */
export function encodeSketch(sketch: FeatureSketch): StoredSketch {
  if (sketch.kind !== 'numeric') {
    return sketch;
  }
  const { grid, ...rest } = sketch;
  const gridCells: number[] = [];
  const gridCounts: number[] = [];
  for (const [cell, count] of grid.entries()) {
    if (count > 0) {
      gridCells.push(cell);
      gridCounts.push(count);
    }
  }
  return { ...rest, gridCells, gridCounts };
}

/** Converts a stored sketch back to the in-memory form. */
export function decodeSketch(stored: StoredSketch): FeatureSketch {
  if (stored.kind !== 'numeric') {
    return stored;
  }
  const { gridCells, gridCounts, ...rest } = stored;
  const grid = new Array<number>(QUANTILE_GRID_CELLS).fill(0);
  for (const [index, cell] of gridCells.entries()) {
    grid[cell] = gridCounts[index] ?? 0;
  }
  return { ...rest, grid };
}
