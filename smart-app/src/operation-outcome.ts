import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

/**
 * Builds a one-issue error OperationOutcome (https://hl7.org/fhir/R4/operationoutcome.html).
 * @medplum/core 4.3 has factories for the common outcomes (badRequest, notFound, …) but none for the
 * `not-supported` and `transient` issues the proxy returns.
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
