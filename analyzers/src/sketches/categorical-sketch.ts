/**
 * Mergeable summary of a categorical feature: counts per category and missing count. Categories are kept as
 * a sorted array of `{ category, count }` objects: not an object keyed by category, because MongoDB field
 * names cannot safely contain `.` or start with `$`, and not pairs, because FerretDB 1.24 rejects nested arrays.
 */

/** Count of one category. */
export interface CategoryCount {
  category: string;
  count: number;
}

/** Sketch of one categorical feature in one window or reference. */
export interface CategoricalSketch {
  kind: 'categorical';
  count: number;
  missing: number;
  /** Counts sorted by category. */
  categories: CategoryCount[];
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
  // Code-unit order, not localeCompare, so the order is the same on every machine.
  const names = [...counts.keys()].sort();
  const categories = names.map((category) => ({ category, count: counts.get(category) ?? 0 }));
  const count = categories.reduce((total, entry) => total + entry.count, 0);
  return { kind: 'categorical', count, missing, categories };
}

/** Merges two categorical sketches by adding their counts. */
export function mergeCategoricalSketches(a: CategoricalSketch, b: CategoricalSketch): CategoricalSketch {
  const counts = new Map(a.categories.map((entry) => [entry.category, entry.count]));
  for (const { category, count } of b.categories) {
    counts.set(category, (counts.get(category) ?? 0) + count);
  }
  return toSketch(counts, a.missing + b.missing);
}

/** Expands a categorical sketch into the values it counts, in category order, for the drift tests. */
export function expandCategories(sketch: CategoricalSketch): string[] {
  return sketch.categories.flatMap(({ category, count }) => new Array<string>(count).fill(category));
}
