/** Two sketches that cannot be merged, because their kinds or histogram layouts differ. */
export class SketchMismatchError extends Error {
  override name = 'SketchMismatchError';
}
