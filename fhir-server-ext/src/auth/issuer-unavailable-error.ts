/**
 * Thrown when the authorization server's discovery document or JWKS cannot be fetched, so no token can be
 * checked. Responses get 503, because the token may well be valid.
 */
export class IssuerUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'IssuerUnavailableError';
  }
}
