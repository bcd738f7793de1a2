/**
 * Thrown when the FHIR server behind the proxy cannot be reached (502) or does not respond in time (504).
 * The message names the URL and what to check; it is sent to the client in an OperationOutcome.
 */
export class UpstreamError extends Error {
  readonly status: 502 | 504;

  constructor(status: 502 | 504, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UpstreamError';
    this.status = status;
  }
}
