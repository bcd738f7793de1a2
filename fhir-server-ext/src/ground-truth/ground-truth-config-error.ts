/** Thrown when the ground-truth rules file cannot be read or a rule is incomplete. */
export class GroundTruthConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GroundTruthConfigError';
  }
}
