/**
 * Checks CDS Hooks 2.0 request bodies (https://cds-hooks.hl7.org/2.0/#http-request and #feedback). Each
 * check returns the typed body or a message saying what to fix, which the router sends as a 400.
 */
import type { Coding } from '@medplum/fhirtypes';
import { PREFETCH_KEYS } from './service-definition.js';
import type { CdsFeedback, FhirAuthorization, PatientViewRequest } from './types.js';

const UUID = /^(urn:uuid:)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const USER_ID = /^(Practitioner|PractitionerRole|Patient|RelatedPerson)\/[A-Za-z0-9\-.]{1,64}$/;
/** ISO 8601 date-time in UTC, as outcomeTimestamp must be. */
const UTC_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]00:00)$/;

/** Maximum feedback items in one request. */
export const MAX_FEEDBACK_ITEMS = 100;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

/**
 * Checks a patient-view request.
 * @param body - The parsed JSON body.
 * @returns The request, or what is wrong.
 */
export function parsePatientViewRequest(body: unknown): PatientViewRequest | string {
  if (!isObject(body)) {
    return 'The body must be a JSON object with hook, hookInstance and context.';
  }
  if (body['hook'] !== 'patient-view') {
    return `This service handles the patient-view hook; "hook" is ${JSON.stringify(body['hook'])}.`;
  }
  if (typeof body['hookInstance'] !== 'string' || !UUID.test(body['hookInstance'])) {
    return '"hookInstance" must be a UUID that identifies this hook call.';
  }

  const context = parseContext(body['context']);
  if (typeof context === 'string') {
    return context;
  }

  const fhirServer = body['fhirServer'];
  if (fhirServer !== undefined && (typeof fhirServer !== 'string' || !isHttpUrl(fhirServer))) {
    return '"fhirServer" must be the absolute http or https base URL of your FHIR server.';
  }

  const fhirAuthorization = parseFhirAuthorization(body['fhirAuthorization']);
  if (typeof fhirAuthorization === 'string') {
    return fhirAuthorization;
  }
  if (fhirAuthorization !== undefined && fhirServer === undefined) {
    return '"fhirServer" is required when "fhirAuthorization" is given.';
  }

  const prefetch = body['prefetch'];
  if (prefetch !== undefined) {
    const problem = checkPrefetch(prefetch);
    if (problem !== undefined) {
      return problem;
    }
  }

  return {
    hook: 'patient-view',
    hookInstance: body['hookInstance'],
    context,
    ...(fhirServer === undefined ? {} : { fhirServer: fhirServer.replace(/\/+$/, '') }),
    ...(fhirAuthorization === undefined ? {} : { fhirAuthorization }),
    ...(prefetch === undefined ? {} : { prefetch: prefetch as Json }),
  };
}

function parseContext(context: unknown): PatientViewRequest['context'] | string {
  if (!isObject(context)) {
    return '"context" must be an object with userId and patientId.';
  }
  const { patientId, userId, encounterId } = context;
  if (typeof patientId !== 'string' || !FHIR_ID.test(patientId)) {
    return '"context.patientId" must be the FHIR id of the patient (letters, digits, "-" and ".", at most 64).';
  }
  if (typeof userId !== 'string' || !USER_ID.test(userId)) {
    return '"context.userId" must be a reference such as Practitioner/123 (Practitioner, PractitionerRole, Patient or RelatedPerson).';
  }
  if (encounterId !== undefined && (typeof encounterId !== 'string' || !FHIR_ID.test(encounterId))) {
    return '"context.encounterId" must be a FHIR id when given.';
  }
  return { patientId, userId, ...(encounterId === undefined ? {} : { encounterId }) };
}

function parseFhirAuthorization(value: unknown): FhirAuthorization | undefined | string {
  if (value === undefined) {
    return undefined;
  }
  if (!isObject(value)) {
    return '"fhirAuthorization" must be an object with access_token, token_type, expires_in, scope and subject.';
  }
  const { access_token, token_type, expires_in, scope, subject, patient } = value;
  if (!isNonEmptyString(access_token)) {
    return '"fhirAuthorization.access_token" must be a non-empty string.';
  }
  if (token_type !== 'Bearer') {
    return '"fhirAuthorization.token_type" must be "Bearer".';
  }
  if (typeof expires_in !== 'number' || !Number.isFinite(expires_in) || expires_in <= 0) {
    return '"fhirAuthorization.expires_in" must be the token lifetime in seconds, above 0.';
  }
  if (!isNonEmptyString(scope)) {
    return '"fhirAuthorization.scope" must list the granted scopes.';
  }
  if (!isNonEmptyString(subject)) {
    return '"fhirAuthorization.subject" must be the OAuth 2.0 client id of this service.';
  }
  if (patient !== undefined && typeof patient !== 'string') {
    return '"fhirAuthorization.patient" must be a string when given.';
  }
  return {
    access_token,
    token_type,
    expires_in,
    scope,
    subject,
    ...(patient === undefined ? {} : { patient }),
  };
}

function checkPrefetch(prefetch: unknown): string | undefined {
  if (!isObject(prefetch)) {
    return '"prefetch" must be an object from prefetch key to FHIR resource or null.';
  }
  for (const key of Object.values(PREFETCH_KEYS)) {
    if (!(key in prefetch)) {
      continue;
    }
    const value = prefetch[key];
    if (value !== null && !(isObject(value) && value['resourceType'] === 'Bundle')) {
      return `"prefetch.${key}" must be a searchset Bundle, or null when the search found nothing.`;
    }
    if (value !== null && value['entry'] !== undefined && !Array.isArray(value['entry'])) {
      return `"prefetch.${key}.entry" must be an array.`;
    }
  }
  return undefined;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * Checks a feedback request body `{ "feedback": [...] }`.
 * @param body - The parsed JSON body.
 * @returns The feedback items, or what is wrong (naming the item's index).
 */
export function parseFeedbackRequest(body: unknown): CdsFeedback[] | string {
  if (!isObject(body) || !Array.isArray(body['feedback'])) {
    return 'The body must be a JSON object { "feedback": [...] }.';
  }
  const items: unknown[] = body['feedback'];
  if (items.length === 0) {
    return '"feedback" must contain at least one item.';
  }
  if (items.length > MAX_FEEDBACK_ITEMS) {
    return `"feedback" has ${items.length} items; send at most ${MAX_FEEDBACK_ITEMS} per request.`;
  }

  const parsed: CdsFeedback[] = [];
  for (const [index, item] of items.entries()) {
    const feedback = parseFeedbackItem(item, `feedback[${index}]`);
    if (typeof feedback === 'string') {
      return feedback;
    }
    parsed.push(feedback);
  }
  return parsed;
}

function parseFeedbackItem(item: unknown, where: string): CdsFeedback | string {
  if (!isObject(item)) {
    return `"${where}" must be an object with card, outcome and outcomeTimestamp.`;
  }
  const { card, outcome, outcomeTimestamp, acceptedSuggestions, overrideReason } = item;
  if (!isNonEmptyString(card)) {
    return `"${where}.card" must be the uuid of a card this service returned.`;
  }
  if (outcome !== 'accepted' && outcome !== 'overridden') {
    return `"${where}.outcome" must be "accepted" or "overridden".`;
  }
  if (
    typeof outcomeTimestamp !== 'string' ||
    !UTC_TIMESTAMP.test(outcomeTimestamp) ||
    Number.isNaN(Date.parse(outcomeTimestamp))
  ) {
    return `"${where}.outcomeTimestamp" must be an ISO 8601 timestamp in UTC, such as 2026-01-31T14:05:00Z.`;
  }

  const suggestions = parseAcceptedSuggestions(acceptedSuggestions, where);
  if (typeof suggestions === 'string') {
    return suggestions;
  }
  if (outcome === 'accepted' && suggestions.length === 0) {
    return `"${where}.acceptedSuggestions" is required for an accepted outcome: list the accepted suggestion ids.`;
  }

  const reason = parseOverrideReason(overrideReason, where);
  if (typeof reason === 'string') {
    return reason;
  }
  return {
    card,
    outcome,
    outcomeTimestamp,
    ...(suggestions.length === 0 ? {} : { acceptedSuggestions: suggestions.map((id) => ({ id })) }),
    ...(reason === undefined ? {} : { overrideReason: reason }),
  };
}

function parseAcceptedSuggestions(value: unknown, where: string): string[] | string {
  if (value === undefined) {
    return [];
  }
  if (!Array.isArray(value)) {
    return `"${where}.acceptedSuggestions" must be an array of { "id" } objects.`;
  }
  const ids: string[] = [];
  for (const suggestion of value as unknown[]) {
    if (!isObject(suggestion) || !isNonEmptyString(suggestion['id'])) {
      return `"${where}.acceptedSuggestions" must be an array of { "id" } objects with the suggestion uuid.`;
    }
    ids.push(suggestion['id']);
  }
  return ids;
}

function parseOverrideReason(value: unknown, where: string): CdsFeedback['overrideReason'] | string {
  if (value === undefined) {
    return undefined;
  }
  if (!isObject(value)) {
    return `"${where}.overrideReason" must be an object with reason and/or userComment.`;
  }
  const { reason, userComment } = value;
  if (reason !== undefined && !(isObject(reason) && isNonEmptyString(reason['code']))) {
    return `"${where}.overrideReason.reason" must be a Coding with a code.`;
  }
  if (userComment !== undefined && typeof userComment !== 'string') {
    return `"${where}.overrideReason.userComment" must be a string.`;
  }
  return {
    ...(reason === undefined ? {} : { reason: toCoding(reason) }),
    ...(userComment === undefined ? {} : { userComment }),
  };
}

/** Keeps the string fields of a Coding, so that stored reasons have the Coding's types. */
function toCoding(value: Json): Coding {
  const coding: Coding = {};
  for (const field of ['system', 'version', 'code', 'display'] as const) {
    const fieldValue = value[field];
    if (typeof fieldValue === 'string') {
      coding[field] = fieldValue;
    }
  }
  return coding;
}
