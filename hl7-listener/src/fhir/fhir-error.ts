import type { OperationOutcome } from '@medplum/fhirtypes';

/** Status and short detail of a failed FHIR request, for the ACK's ERR-8. */
export interface FhirFailure {
  /** HTTP status, or undefined when the server could not be reached. */
  status: number | undefined;
  /** First OperationOutcome diagnostics (may echo message content, so it is not logged), or the error message. */
  detail: string;
}

function isOperationOutcome(value: unknown): value is OperationOutcome {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { resourceType?: unknown }).resourceType === 'OperationOutcome'
  );
}

/**
 * Reads the HTTP status and OperationOutcome of an error thrown by fhir-kit-client.
 * @param err - The thrown value.
 * @returns The status and a short detail text.
 */
export function describeFhirError(err: unknown): FhirFailure {
  const response = (err as { response?: { status?: unknown; data?: unknown } } | undefined)?.response;
  const status = typeof response?.status === 'number' ? response.status : undefined;
  let data = response?.data;
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data) as unknown;
    } catch {
      // Keep the text body.
    }
  }

  if (isOperationOutcome(data)) {
    const issue = Array.isArray(data.issue) ? data.issue[0] : undefined;
    return { status, detail: issue?.diagnostics ?? issue?.details?.text ?? issue?.code ?? 'no diagnostics' };
  }
  return { status, detail: err instanceof Error ? err.message : String(err) };
}
