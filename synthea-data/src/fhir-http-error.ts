/** Thrown when the FHIR server responds with an HTTP error status or cannot be reached. */
export class FhirHttpError extends Error {
  /** HTTP status, or 0 when no response arrived (connection refused, timeout). */
  readonly status: number;
  /** True when no connection could be opened, so every further request would fail the same way. */
  readonly unreachable: boolean;

  constructor(message: string, status: number, unreachable = false) {
    super(message);
    this.name = 'FhirHttpError';
    this.status = status;
    this.unreachable = unreachable;
  }
}
