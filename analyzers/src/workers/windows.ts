import { InvalidResultError } from '../invalid-result-error.js';

// A FHIR R4 dateTime with at least a full date. R4 requires a time zone offset whenever a time is given.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * Computes the window key of a result: the UTC day of its effectiveDateTime.
 * @param observationId - For the error message.
 * @param effective - Observation.effectiveDateTime.
 * @returns `YYYY-MM-DD`.
 * @throws InvalidResultError when the date is missing or has less than day precision.
 */
export function windowOf(observationId: string, effective: string | undefined): string {
  if (effective === undefined || !DATE_TIME.test(effective)) {
    throw new InvalidResultError(
      `Observation/${observationId} effectiveDateTime is ${String(effective)}; expected a FHIR dateTime with at least a full date.`
    );
  }

  const time = new Date(effective);
  if (Number.isNaN(time.getTime())) {
    throw new InvalidResultError(
      `Observation/${observationId} effectiveDateTime ${effective} is not a valid date.`
    );
  }
  return time.toISOString().slice(0, 10);
}
