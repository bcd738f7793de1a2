/**
 * Codes of a clinician's response to a monitoring Flag, shared by fhir-server-ext's `Flag/{id}/$respond`
 * and the SMART app's patient view. Free of Node dependencies, so the browser bundle can import it.
 * The reason codes and displays must stay equal to the FlagResponseReasons CodeSystem in
 * profiles/input/fsh/service-codes.fsh.
 */
import { MONITORMED_BASE } from './fhir-codes.js';

/** Code system of the reasons a clinician gives when responding to a Flag. */
export const FLAG_RESPONSE_REASON_SYSTEM = `${MONITORMED_BASE}/CodeSystem/flag-response-reason`;

/** Complex extension on a Flag with the clinician's response: response, reason, comment, author, time. */
export const FLAG_RESPONSE_EXTENSION = `${MONITORMED_BASE}/StructureDefinition/flag-response`;

/** The two responses: acknowledge keeps the Flag active, override makes it inactive. */
export const FLAG_RESPONSES = ['acknowledge', 'override'] as const;

/** A response code, see {@link FLAG_RESPONSES}. */
export type FlagResponseCode = (typeof FLAG_RESPONSES)[number];

/** Codes and displays of {@link FLAG_RESPONSE_REASON_SYSTEM}. */
export const FLAG_RESPONSE_REASONS = [
  { code: 'consistent-with-assessment', display: 'Consistent with clinical assessment' },
  { code: 'contradicts-assessment', display: 'Contradicts clinical assessment' },
  { code: 'outside-intended-use', display: "Outside the model's intended use" },
  { code: 'input-data-error', display: 'Input data error' },
  { code: 'other', display: 'Other reason' },
] as const;
