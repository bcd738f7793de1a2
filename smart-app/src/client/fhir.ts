/**
 * Reads one patient's AI results and monitoring Flags through fhirclient, the SMART on FHIR JavaScript
 * client (https://docs.smarthealthit.org/client-js/). The walking skeleton creates the client from a
 * server URL without authorization; the SMART App Launch will later hand over a client from `FHIR.oauth2`.
 */
import FHIR from 'fhirclient';
import type { Bundle, HumanName, Patient } from '@medplum/fhirtypes';
import { AIAST_SEARCH } from '@monitormed/common/fhir-codes';
import { buildResultRows, type PatientAiResults } from './results.js';

/** The fhirclient Client type, as returned by `FHIR.client()` and later by `FHIR.oauth2.ready()`. */
export type SmartClient = ReturnType<typeof FHIR.client>;

/** Page size of the result and Flag searches; the page shows the first page only. */
export const SEARCH_PAGE_SIZE = 100;

/** What loading a patient's results produced: the data, or the reason the page cannot show it. */
export type LoadOutcome =
  | { kind: 'loaded'; patientName: string | undefined; results: PatientAiResults }
  | { kind: 'patient-not-found' }
  | { kind: 'unreachable' }
  | { kind: 'server-error'; status: number; statusText: string };

/** Pattern of a FHIR R4 logical id (https://hl7.org/fhir/R4/datatypes.html#id). */
export const FHIR_ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

/** HTTP statuses that mean the FHIR server itself could not be reached through the proxy. */
const UNREACHABLE_STATUSES = new Set([502, 503, 504]);

/**
 * Creates a fhirclient Client for an open FHIR endpoint (no SMART authorization yet).
 * @param serverUrl - FHIR base URL, such as `${location.origin}/fhir`.
 * @returns The client.
 */
export function createOpenClient(serverUrl: string): SmartClient {
  return FHIR.client({ serverUrl });
}

/**
 * Builds the search of a patient's AI results: AIAST-labelled Observations, newest first, with their
 * model Devices included (AI Transparency IG: every AI-asserted resource carries the AIAST label).
 */
export function aiResultSearch(patientId: string): string {
  const params = new URLSearchParams({
    subject: `Patient/${patientId}`,
    _security: AIAST_SEARCH,
    _sort: '-date',
    _count: String(SEARCH_PAGE_SIZE),
    _include: 'Observation:device',
  });
  return `Observation?${params.toString()}`;
}

/**
 * Builds the search of a patient's Flags. FHIR R4 defines no `status` search parameter on Flag (HAPI
 * rejects it with HTTP 400), so `buildResultRows` keeps the active ones.
 */
export function flagSearch(patientId: string): string {
  const params = new URLSearchParams({
    subject: `Patient/${patientId}`,
    _count: String(SEARCH_PAGE_SIZE),
  });
  return `Flag?${params.toString()}`;
}

function formatName(name: HumanName | undefined): string | undefined {
  if (name === undefined) {
    return undefined;
  }
  const text = name.text ?? [...(name.given ?? []), name.family ?? ''].join(' ').trim();
  return text === '' ? undefined : text;
}

function httpStatusOf(error: unknown): { status: number; statusText: string } | undefined {
  // fhirclient rejects with its HttpError, which carries the response status, for every non-2xx response.
  if (typeof error === 'object' && error !== null && 'status' in error && typeof error.status === 'number') {
    const statusText = 'statusText' in error && typeof error.statusText === 'string' ? error.statusText : '';
    return { status: error.status, statusText };
  }
  return undefined;
}

function classifyFailure(error: unknown, duringPatientRead: boolean): LoadOutcome {
  const http = httpStatusOf(error);

  // A fetch that fails without any response (TypeError) means the app's own server is unreachable.
  if (http === undefined || UNREACHABLE_STATUSES.has(http.status)) {
    return { kind: 'unreachable' };
  }
  if (duringPatientRead && (http.status === 404 || http.status === 410)) {
    return { kind: 'patient-not-found' };
  }
  return { kind: 'server-error', status: http.status, statusText: http.statusText };
}

/**
 * Reads the patient, then their AI results and Flags, and builds the table rows.
 * @param client - A fhirclient Client for the FHIR endpoint.
 * @param patientId - Logical id of the Patient.
 * @returns The rows, or the reason the results cannot be shown; never rejects.
 */
export async function loadPatientAiResults(client: SmartClient, patientId: string): Promise<LoadOutcome> {
  let patient: Patient;
  try {
    patient = await client.request<Patient>(`Patient/${encodeURIComponent(patientId)}`);
  } catch (error) {
    return classifyFailure(error, true);
  }

  try {
    const [observations, flags] = await Promise.all([
      client.request<Bundle>(aiResultSearch(patientId), { pageLimit: 1 }),
      client.request<Bundle>(flagSearch(patientId), { pageLimit: 1 }),
    ]);
    return {
      kind: 'loaded',
      patientName: formatName(patient.name?.[0]),
      results: buildResultRows(observations, flags),
    };
  } catch (error) {
    return classifyFailure(error, false);
  }
}
