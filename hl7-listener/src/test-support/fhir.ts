/** FHIR helpers shared by the listener's integration tests. */
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { HL7_RESULT_ID_SYSTEM, type FhirClient } from '@monitormed/common';
import { escapeSearchValue } from '../fhir/search.js';

/** Identifier system of the test patients' MRNs. */
export const TEST_MRN_SYSTEM = 'https://monitormed.dev/fhir/sid/test-mrn';

/** MSH-4 sending facility of the test messages. */
export const FACILITY = 'MMDEMOHOSP';

/**
 * Searches HAPI past its search cache, so a resource written a moment ago is found.
 * @returns The matching resources of the first page.
 */
export async function search<T extends Resource>(
  fhir: FhirClient,
  resourceType: T['resourceType'],
  searchParams: Record<string, string>
): Promise<T[]> {
  const bundle = (await fhir.search({
    resourceType,
    searchParams,
    options: { headers: { 'Cache-Control': 'no-cache' } },
  })) as unknown as Bundle<T>;
  return (bundle.entry ?? []).flatMap((entry) => (entry.resource === undefined ? [] : [entry.resource]));
}

/**
 * Builds the identifier search value of a mapped result, such as `{facility}|{MSH-10}|{OBR}|{OBX}`.
 * @param parts - The identifier parts.
 * @returns A `system|value` token with the value's `|` escaped for FHIR search.
 */
export function resultIdentifier(...parts: string[]): string {
  return `${HL7_RESULT_ID_SYSTEM}|${escapeSearchValue(parts.join('|'))}`;
}
