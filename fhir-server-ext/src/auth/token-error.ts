/**
 * Thrown when a request's bearer token is missing or invalid. The message names the problem (expired,
 * wrong audience, bad signature) and is sent to the client in a 401 OperationOutcome, so it never
 * contains the token itself.
 */
export class TokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenError';
  }
}
