import { MongoError } from 'mongodb';
import { Hl7ProcessingError } from '../hl7/hl7-error.js';
import { FhirTransactionError } from './fhir-transaction-error.js';

/** HTTP statuses worth retrying: request timeout, too many requests and every server error. */
function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Tells whether a processing failure may succeed on a later attempt. An unreachable FHIR server, HTTP
 * 408/429/5xx and MongoDB errors are transient. Parse and mapping errors, an unknown patient and other
 * 4xx responses are permanent, because the same bytes would fail the same way.
 * @param err - The error thrown while processing a stored message.
 */
export function isTransientFailure(err: unknown): boolean {
  if (err instanceof Hl7ProcessingError) {
    return false;
  }
  if (err instanceof FhirTransactionError) {
    return err.status === undefined || isTransientStatus(err.status);
  }
  if (err instanceof MongoError) {
    return true;
  }
  // An unexpected error (a bug or a network failure of another kind) is retried until the attempt limit.
  return true;
}

/** Retry timing settings. */
export interface BackoffSettings {
  retryBaseMs: number;
  retryMaxDelayMs: number;
}

/**
 * Computes the delay before the next attempt: exponential backoff with "equal jitter", a random value
 * between half and all of `min(max, base * 2^(attempt - 1))`. The jitter spreads the retries of many
 * messages that failed together, and the lower half bound keeps the delay growing.
 * @param attempt - Number of attempts made so far (1 after the first failure).
 * @param random - Random number in [0, 1), injectable for tests.
 */
export function retryDelayMs(
  attempt: number,
  settings: BackoffSettings,
  random: () => number = Math.random
): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const ceiling = Math.min(settings.retryMaxDelayMs, settings.retryBaseMs * 2 ** exponent);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
