/** Raised for a message id that is malformed, unknown or not in a replayable state. */
export class DeadLetterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeadLetterError';
  }
}
