/**
 * Monitoring Flags on the patient (R4 Flag: https://hl7.org/fhir/R4/flag.html), as the data contract fixes
 * them: code from FLAG_CODES, status active, category clinical, flag-detail pointing at the Observation,
 * identifier `{observationId}|{code}` in FLAG_ID_SYSTEM, and the AIAST label.
 */
import type { Coding, Flag } from '@medplum/fhirtypes';
import { AIAST, FLAG_DETAIL_EXTENSION, FLAG_ID_SYSTEM } from '@monitormed/common';

/** Flag category code system of R4 (flag-category). */
const FLAG_CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/flag-category';

/** Subject of a monitoring Flag: the AI result and its patient. */
export interface FlagSubject {
  observationId: string;
  patientId: string;
  /** When the flagged result was produced, as the Flag's period start. */
  effective: string;
}

/**
 * Builds the identifier value of a monitoring Flag.
 * @param observationId - The flagged Observation's id.
 * @param code - The flag code, such as `high-uncertainty`.
 * @returns `{observationId}|{code}`.
 */
export function flagIdentifierValue(observationId: string, code: string): string {
  return `${observationId}|${code}`;
}

/**
 * Builds the token search value of a monitoring Flag's identifier. The `|` inside the value is escaped as
 * `\|` (FHIR search escaping), so the server splits system and value at the first bar only.
 * @param observationId - The flagged Observation's id.
 * @param code - The flag code.
 * @returns A token such as `https://…/monitoring-flag|12\|high-uncertainty`.
 */
export function flagIdentifierToken(observationId: string, code: string): string {
  return `${FLAG_ID_SYSTEM}|${flagIdentifierValue(observationId, code).replaceAll('|', '\\|')}`;
}

/**
 * Builds the search that finds an existing monitoring Flag, for `If-None-Exist`.
 * @param observationId - The flagged Observation's id.
 * @param code - The flag code.
 * @returns A query such as `identifier=https%3A…monitoring-flag%7C12%5C%7Chigh-uncertainty`.
 */
export function flagIdentifierQuery(observationId: string, code: string): string {
  return `identifier=${encodeURIComponent(flagIdentifierToken(observationId, code))}`;
}

/**
 * Builds a monitoring Flag on the patient of an AI result.
 * @param subject - The Observation, its patient and its date.
 * @param code - One of FLAG_CODES.
 * @returns The Flag without id.
 */
export function buildMonitoringFlag(subject: FlagSubject, code: Coding & { code: string }): Flag {
  return {
    resourceType: 'Flag',
    meta: { security: [AIAST] },
    identifier: [{ system: FLAG_ID_SYSTEM, value: flagIdentifierValue(subject.observationId, code.code) }],
    status: 'active',
    category: [{ coding: [{ system: FLAG_CATEGORY_SYSTEM, code: 'clinical', display: 'Clinical' }] }],
    code: { coding: [code], text: code.display },
    subject: { reference: `Patient/${subject.patientId}` },
    period: { start: subject.effective },
    extension: [
      { url: FLAG_DETAIL_EXTENSION, valueReference: { reference: `Observation/${subject.observationId}` } },
    ],
  };
}
