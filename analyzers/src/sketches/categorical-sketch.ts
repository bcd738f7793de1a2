/**
 * Mergeable summary of a categorical feature: counts per category and missing count. Categories are kept as
 * a sorted array of pairs, not an object, because MongoDB field names cannot safely contain `.` or start
 * with `$`.
 */

/** Sketch of one categorical feature in one window or reference. */
export interface CategoricalSketch {
  kind: 'categorical';
  count: number;
  missing: number;
  /** `[category, count]` pairs sorted by category. */
  categories: [string, number][];
}

/**
 * Builds the sketch of a sample.
 * @param values - Categories; null, undefined and '' count as missing.
 */
export function sketchCategories(values: readonly (string | null | undefined)[]): CategoricalSketch {
  const counts = new Map<string, number>();
  let missing = 0;
  for (const value of values) {
    if (value === null || value === undefined || value === '') {
      missing += 1;
      continue;
    }
    counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  return toSketch(counts, missing);
}

function toSketch(counts: Map<string, number>, missing: number): CategoricalSketch {
  const categories = [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const count = categories.reduce((total, [, categoryCount]) => total + categoryCount, 0);
  return { kind: 'categorical', count, missing, categories };
}

/** Merges two categorical sketches by adding their counts. */
export function mergeCategoricalSketches(a: CategoricalSketch, b: CategoricalSketch): CategoricalSketch {
  const counts = new Map(a.categories);
  for (const [category, count] of b.categories) {
    counts.set(category, (counts.get(category) ?? 0) + count);
  }
  return toSketch(counts, a.missing + b.missing);
}

/** Expands a categorical sketch into the values it counts, in category order, for the drift tests. */
export function expandCategories(sketch: CategoricalSketch): string[] {
  return sketch.categories.flatMap(([category, count]) => new Array<string>(count).fill(category));
}
