/**
 * Thrown when a CDS client's JWT is rejected (status 401), or cannot be checked because the client's
 * JWK Set or Redis is unreachable (status 503).
 */
export class ClientAuthError extends Error {
  readonly status: 401 | 503;

  constructor(message: string, status: 401 | 503 = 401) {
    super(message);
    this.name = 'ClientAuthError';
    this.status = status;
  }
}
