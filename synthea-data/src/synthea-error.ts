/** Thrown when Synthea cannot be fetched from Maven Central or exits with an error. */
export class SyntheaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SyntheaError';
  }
}
