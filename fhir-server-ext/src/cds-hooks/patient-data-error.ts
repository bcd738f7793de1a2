/**
 * Thrown when the data a card needs is neither in the prefetch nor readable from the FHIR server.
 * CDS Hooks 2.0 answers that case with 412 Precondition Failed.
 */
export class PatientDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatientDataError';
  }
}
