/**
 * Thrown when a valid token's scopes do not allow a request. The message names the scope that would
 * allow it, or the patient compartment the token is limited to; it is sent in a 403 OperationOutcome.
 */
export class ForbiddenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForbiddenError';
  }
}
