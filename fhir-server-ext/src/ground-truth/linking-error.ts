/** Thrown when a delivered resource cannot be linked, for example an AI result without a patient or score. */
export class LinkingError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LinkingError';
  }
}
