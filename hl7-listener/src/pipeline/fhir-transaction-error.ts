import type { Hl7Issue } from '../hl7/hl7-error.js';

/** Raised when the FHIR server rejects or cannot take a request of the result transaction. */
export class FhirTransactionError extends Error {
  readonly issue: Hl7Issue;
  /** HTTP status of the FHIR response, or undefined when the server could not be reached. */
  readonly status: number | undefined;

  constructor(issue: Hl7Issue, status: number | undefined) {
    super(issue.text);
    this.name = 'FhirTransactionError';
    this.issue = issue;
    this.status = status;
  }
}
