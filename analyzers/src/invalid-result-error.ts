/**
 * Thrown when an AI result cannot be analysed as stored (score outside [0, 1], no model Device, no date).
 * Retrying cannot help, so the worker fails the job permanently.
 */
export class InvalidResultError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidResultError';
  }
}
