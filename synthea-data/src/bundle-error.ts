/** Thrown when a file is not a FHIR transaction Bundle the loader can send. */
export class BundleFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BundleFormatError';
  }
}
