/**
 * FHIR reads and writes that the authorization server makes directly, as an EHR's own login service
 * would: the test user's Practitioner (created on first start) and the Patients of the patient picker.
 */
import type { Bundle, Patient, Practitioner } from '@medplum/fhirtypes';

/** Identifier system of the users of this authorization server. */
export const AUTH_USER_ID_SYSTEM = 'urn:monitormed:auth-server:user';

/** User name of the synthetic test clinician. */
export const TEST_USERNAME = 'clinician';

/** One row of the patient picker. */
export interface PatientChoice {
  id: string;
  name: string;
  birthDate: string | undefined;
}

interface FhirRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

async function fhirJson<T>(url: string, init: FhirRequest, timeoutMs: number): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, {
      ...init,
      headers: { Accept: 'application/fhir+json', 'Content-Type': 'application/fhir+json', ...init.headers },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new Error(
      `The FHIR server at ${new URL(url).origin} could not be reached: ${(error as Error).message}`,
      {
        cause: error,
      }
    );
  }
  if (!response.ok) {
    throw new Error(
      `${init.method ?? 'GET'} ${url.split('?')[0] ?? url} failed with HTTP ${response.status}.`
    );
  }
  return (await response.json()) as T;
}

/**
 * Finds or creates the synthetic test clinician's Practitioner with a conditional create, so restarts
 * and parallel test runs share one resource.
 * @returns The SMART `fhirUser` value, such as `Practitioner/123`.
 * @throws Error naming the FHIR server when it is unreachable or rejects the write.
 */
export async function ensureTestPractitioner(fhirBaseUrl: string, timeoutMs: number): Promise<string> {
  const practitioner: Practitioner = {
    resourceType: 'Practitioner',
    identifier: [{ system: AUTH_USER_ID_SYSTEM, value: TEST_USERNAME }],
    name: [{ family: 'Clinician', given: ['Casey'], prefix: ['Dr.'] }],
    active: true,
  };
  const stored = await fhirJson<Practitioner>(
    `${fhirBaseUrl}/Practitioner`,
    {
      method: 'POST',
      headers: { 'If-None-Exist': `identifier=${AUTH_USER_ID_SYSTEM}|${TEST_USERNAME}` },
      body: JSON.stringify(practitioner),
    },
    timeoutMs
  );
  if (stored.id === undefined) {
    throw new Error('The FHIR server returned the test Practitioner without an id.');
  }
  return `Practitioner/${stored.id}`;
}

function displayName(patient: Patient): string {
  const name = patient.name?.[0];
  const text = name?.text ?? [...(name?.given ?? []), name?.family ?? ''].join(' ').trim();
  return text === '' ? '(no name)' : text;
}

/**
 * Searches Patients by name for the patient picker.
 * @param query - Part of a name; HAPI matches the start of any name part.
 * @returns Up to 20 matches.
 */
export async function searchPatients(
  fhirBaseUrl: string,
  query: string,
  timeoutMs: number
): Promise<PatientChoice[]> {
  const params = new URLSearchParams({ name: query, _count: '20' });
  const bundle = await fhirJson<Bundle<Patient>>(
    `${fhirBaseUrl}/Patient?${params.toString()}`,
    {},
    timeoutMs
  );
  const choices: PatientChoice[] = [];
  for (const entry of bundle.entry ?? []) {
    const patient = entry.resource;
    if (patient?.id !== undefined) {
      choices.push({ id: patient.id, name: displayName(patient), birthDate: patient.birthDate });
    }
  }
  return choices;
}

/** Tells whether a Patient with this id exists. */
export async function patientExists(
  fhirBaseUrl: string,
  patientId: string,
  timeoutMs: number
): Promise<boolean> {
  const response = await fetch(`${fhirBaseUrl}/Patient/${encodeURIComponent(patientId)}`, {
    headers: { Accept: 'application/fhir+json' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (response.status === 404 || response.status === 410) {
    return false;
  }
  if (!response.ok) {
    throw new Error(`GET Patient/${patientId} failed with HTTP ${response.status}.`);
  }
  return true;
}
