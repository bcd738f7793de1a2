/**
 * Thrown when a request to the FHIR proxy is malformed or uses a form the proxy does not support. The
 * message names what to change; it is sent in a 400 OperationOutcome.
 */
export class InvalidRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRequestError';
  }
}
