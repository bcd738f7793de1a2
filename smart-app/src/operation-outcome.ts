import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

/**
 * Builds a one-issue error OperationOutcome (https://hl7.org/fhir/R4/operationoutcome.html).
 * NOTE: @medplum/core 5.x has factories for this, but importing it fails on Node 20 because it reads the
 * global `WebSocket` at load time, which Node 20 lacks without `--experimental-websocket`.
 * @param code - Issue type from the R4 issue-type value set, such as `not-supported` or `transient`.
 * @param text - Message for the reader: what failed and what to do.
 * @returns The OperationOutcome.
 */
export function errorOutcome(code: OperationOutcomeIssue['code'], text: string): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, details: { text } }],
  };
}
