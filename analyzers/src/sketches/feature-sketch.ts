/** A sketch of either feature type, and the operations that dispatch on its kind. */
import { expandCategories, mergeCategoricalSketches, type CategoricalSketch } from './categorical-sketch.js';
import { mergeNumericSketches, representativeSample, type NumericSketch } from './numeric-sketch.js';
import { SketchMismatchError } from './sketch-mismatch-error.js';

/** Sketch of one feature. */
export type FeatureSketch = NumericSketch | CategoricalSketch;

/**
 * Merges two sketches of the same kind and layout.
 * @throws SketchMismatchError when the kinds or layouts differ.
 */
export function mergeSketches(a: FeatureSketch, b: FeatureSketch): FeatureSketch {
  if (a.kind === 'numeric' && b.kind === 'numeric') {
    return mergeNumericSketches(a, b);
  }
  if (a.kind === 'categorical' && b.kind === 'categorical') {
    return mergeCategoricalSketches(a, b);
  }
  throw new SketchMismatchError(`Cannot merge a ${a.kind} sketch with a ${b.kind} sketch.`);
}

/**
 * Merges any number of sketches left to right.
 * @returns The merged sketch, or undefined for an empty list.
 */
export function mergeAll(sketches: readonly FeatureSketch[]): FeatureSketch | undefined {
  let merged: FeatureSketch | undefined;
  for (const sketch of sketches) {
    merged = merged === undefined ? sketch : mergeSketches(merged, sketch);
  }
  return merged;
}

/** Returns the values the drift tests run on: numbers (exact or quantile sample) or category values. */
export function sampleOf(sketch: FeatureSketch): number[] | string[] {
  return sketch.kind === 'numeric' ? representativeSample(sketch) : expandCategories(sketch);
}

/** Returns the share of missing values, or 0 for an empty sketch. */
export function missingRate(sketch: FeatureSketch): number {
  const total = sketch.count + sketch.missing;
  return total === 0 ? 0 : sketch.missing / total;
}
