/**
 * Reads one patient's AI results and monitoring Flags through fhirclient, the SMART on FHIR JavaScript
 * client (https://docs.smarthealthit.org/client-js/), with the Client that `FHIR.oauth2.ready()` returns
 * after the SMART launch; it sends the bearer token and refreshes it when it expires.
 */
import FHIR from 'fhirclient';
import type { Bundle, HumanName, Patient } from '@medplum/fhirtypes';
import { AIAST_SEARCH } from '@monitormed/common/fhir-codes';
import { buildResultRows, type PatientAiResults } from './results.js';

/** The fhirclient Client type, as returned by `FHIR.client()` and later by `FHIR.oauth2.ready()`. */
export type SmartClient = ReturnType<typeof FHIR.client>;

/** Page size of the result and Flag searches; the page shows the first page only. */
export const SEARCH_PAGE_SIZE = 100;

/** Outcome of loading a patient's AI results: the rows, or the reason the page cannot show them. */
export type LoadOutcome =
  | { kind: 'loaded'; patientName: string | undefined; results: PatientAiResults }
  | { kind: 'patient-not-found' }
  | { kind: 'unreachable' }
  | { kind: 'unauthorized'; status: number }
  | { kind: 'server-error'; status: number; statusText: string }
  | { kind: 'failed'; message: string };

/** Pattern of a FHIR R4 logical id (https://hl7.org/fhir/R4/datatypes.html#id). */
export const FHIR_ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

/** HTTP statuses that mean the FHIR server itself could not be reached through the proxy. */
const UNREACHABLE_STATUSES = new Set([502, 503, 504]);

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
  // fetch() rejects with a TypeError when no response arrives, here when the app's own server is down.
  if (error instanceof TypeError) {
    return { kind: 'unreachable' };
  }

  const http = httpStatusOf(error);
  if (http === undefined) {
    return { kind: 'failed', message: error instanceof Error ? error.message : String(error) };
  }
  if (UNREACHABLE_STATUSES.has(http.status)) {
    return { kind: 'unreachable' };
  }
  if (http.status === 401 || http.status === 403) {
    return { kind: 'unauthorized', status: http.status };
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
 * @returns The rows, or the reason the results cannot be shown. Failed requests resolve to an outcome.
 */
export async function loadPatientAiResults(client: SmartClient, patientId: string): Promise<LoadOutcome> {
  let patient: Patient;
  try {
    patient = await client.request<Patient>(`Patient/${encodeURIComponent(patientId)}`);
  } catch (error) {
    return classifyFailure(error, true);
  }

  let observations: Bundle;
  let flagPages: Bundle[];
  try {
    // Only the newest page of results is shown, but a Flag of one of them can be on any page of the
    // patient's Flags (HAPI caps a page at 50 on the test peers), so every Flag page is read.
    [observations, flagPages] = await Promise.all([
      client.request<Bundle>(aiResultSearch(patientId), { pageLimit: 1 }),
      client.request<Bundle[]>(flagSearch(patientId), { pageLimit: 0 }),
    ]);
  } catch (error) {
    return classifyFailure(error, false);
  }

  const flags: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    entry: flagPages.flatMap((page) => page.entry ?? []),
  };
  return {
    kind: 'loaded',
    patientName: formatName(patient.name?.[0]),
    results: buildResultRows(observations, flags),
  };
}
