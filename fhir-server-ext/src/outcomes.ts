/**
 * OperationOutcome builders (https://hl7.org/fhir/R4/operationoutcome.html) with the HTTP status each implies.
 * NOTE: @medplum/core 5.x has such factories (badRequest, unauthorized, …), but importing it fails on Node 20
 * because it reads the global `WebSocket` at load time, which Node 20 lacks without `--experimental-websocket`.
 */
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

/** An OperationOutcome and the HTTP status to send it with. */
export interface HttpOutcome {
  status: number;
  outcome: OperationOutcome;
}

function outcomeOf(
  status: number,
  severity: OperationOutcomeIssue['severity'],
  code: OperationOutcomeIssue['code'],
  text: string
): HttpOutcome {
  return {
    status,
    outcome: { resourceType: 'OperationOutcome', issue: [{ severity, code, details: { text } }] },
  };
}

/**
 * Builds a 200 outcome with one informational issue.
 * @param text - What was done.
 */
export function informational(text: string): HttpOutcome {
  return outcomeOf(200, 'information', 'informational', text);
}

/**
 * Builds a 400 outcome for invalid input.
 * @param text - What is wrong and how to fix it.
 */
export function badRequest(text: string): HttpOutcome {
  return outcomeOf(400, 'error', 'invalid', text);
}

/**
 * Builds a 401 outcome for a missing or wrong credential.
 * @param text - Which credential failed, without its value.
 */
export function unauthorized(text: string): HttpOutcome {
  return outcomeOf(401, 'error', 'login', text);
}

/**
 * Builds a 404 outcome.
 * @param text - What was not found.
 */
export function notFound(text: string): HttpOutcome {
  return outcomeOf(404, 'error', 'not-found', text);
}

/**
 * Builds a 503 outcome for a peer that is down, so the caller retries.
 * @param text - Which service is unavailable.
 */
export function unavailable(text: string): HttpOutcome {
  return outcomeOf(503, 'error', 'transient', text);
}

/**
 * Builds a 500 outcome for an unexpected failure.
 * @param text - A message without internal details.
 */
export function serverError(text: string): HttpOutcome {
  return outcomeOf(500, 'error', 'exception', text);
}
