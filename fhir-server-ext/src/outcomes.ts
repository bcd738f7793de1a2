/**
 * OperationOutcomes (https://hl7.org/fhir/R4/operationoutcome.html) with the HTTP status each implies.
 * The error outcomes come from @medplum/core's factories; @medplum/core has none for informational results
 * or for a peer that is down, so those two are built here.
 */
import {
  badRequest as medplumBadRequest,
  getStatus,
  notFound as medplumNotFound,
  serverError as medplumServerError,
  unauthorized as medplumUnauthorized,
} from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';

/** An OperationOutcome and the HTTP status to send it with. */
export interface HttpOutcome {
  status: number;
  outcome: OperationOutcome;
}

function withStatus(outcome: OperationOutcome): HttpOutcome {
  return { status: getStatus(outcome), outcome };
}

/**
 * Builds a 200 outcome with one informational issue.
 * @param text - What was done.
 */
export function informational(text: string): HttpOutcome {
  return {
    status: 200,
    outcome: {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'information', code: 'informational', details: { text } }],
    },
  };
}

/**
 * Builds a 400 outcome for invalid input.
 * @param text - What is wrong and how to fix it.
 */
export function badRequest(text: string): HttpOutcome {
  return withStatus(medplumBadRequest(text));
}

/**
 * Builds a 401 outcome for a missing or wrong credential.
 * @param text - Which credential failed, without its value; sent as the issue's diagnostics.
 */
export function unauthorized(text: string): HttpOutcome {
  const issues = medplumUnauthorized.issue.map((issue) => ({ ...issue, diagnostics: text }));
  return withStatus({ ...medplumUnauthorized, issue: issues });
}

/**
 * Builds a 404 outcome.
 * @param text - What was not found; sent as the issue's diagnostics.
 */
export function notFound(text: string): HttpOutcome {
  const issues = medplumNotFound.issue.map((issue) => ({ ...issue, diagnostics: text }));
  return withStatus({ ...medplumNotFound, issue: issues });
}

/**
 * Builds a 503 outcome for a peer that is down, so the caller retries.
 * @param text - Which service is unavailable.
 */
export function unavailable(text: string): HttpOutcome {
  return {
    status: 503,
    outcome: {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'transient', details: { text } }],
    },
  };
}

/**
 * Builds a 500 outcome for an unexpected failure.
 * @param text - A message without internal details.
 */
export function serverError(text: string): HttpOutcome {
  return withStatus(medplumServerError(new Error(text)));
}
