/**
 * Thrown when the data a card needs is neither in the prefetch nor readable from the FHIR server.
 * CDS Hooks 2.0 requires a 412 Precondition Failed response in that case.
 */
export class PatientDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatientDataError';
  }
}
