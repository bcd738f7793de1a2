import type { CodeableConcept, Coding } from '@medplum/fhirtypes';
import { textValue, type Hl7Segment } from '../hl7/segment.js';

/**
 * HL7 v2 coding system names (table 0396) to FHIR system URIs, for the systems results commonly use.
 * Local names (`L`, `99zzz`) and unknown names map to no system, so the code is sent without one.
 */
const CODING_SYSTEMS: Record<string, string> = {
  LN: 'http://loinc.org',
  SCT: 'http://snomed.info/sct',
  SNM: 'http://snomed.info/sct',
  UCUM: 'http://unitsofmeasure.org',
  I10: 'http://hl7.org/fhir/sid/icd-10',
  I10C: 'http://hl7.org/fhir/sid/icd-10-cm',
  I9C: 'http://hl7.org/fhir/sid/icd-9-cm',
  CPT: 'http://www.ama-assn.org/go/cpt',
  RXNORM: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  CVX: 'http://hl7.org/fhir/sid/cvx',
  CDCREC: 'urn:oid:2.16.840.1.113883.6.238',
  NDC: 'http://hl7.org/fhir/sid/ndc',
  I10P: 'http://www.cms.gov/Medicare/Coding/ICD10',
  HCPCS: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
  // Names seen in the wild for LOINC and SNOMED CT besides the table 0396 codes.
  LOINC: 'http://loinc.org',
  LNC: 'http://loinc.org',
  SNOMED: 'http://snomed.info/sct',
  SCTUS: 'http://snomed.info/sct',
};

/**
 * Maps an HL7 v2 coding system name to a FHIR system URI.
 * @param name - Coding system name such as `LN` or `HL70078`.
 * @returns The URI, or undefined for local and unknown systems.
 */
export function codingSystemUri(name: string): string | undefined {
  const upper = name.toUpperCase();
  const known = CODING_SYSTEMS[upper];
  if (known !== undefined) {
    return known;
  }
  const table = /^HL7(\d{4})$/.exec(upper);
  return table === null ? undefined : `http://terminology.hl7.org/CodeSystem/v2-${table[1] ?? ''}`;
}

function coding(code: string, display: string, systemName: string): Coding | undefined {
  if (code === '' && display === '') {
    return undefined;
  }
  const system = codingSystemUri(systemName);
  return {
    ...(system === undefined ? {} : { system }),
    ...(code === '' ? {} : { code }),
    ...(display === '' ? {} : { display }),
  };
}

/**
 * Reads a CE/CWE/CNE field as a CodeableConcept: the primary triplet (components 1-3), the alternate
 * triplet (4-6) and the original text (component 9).
 * @returns The concept, or undefined when the field is empty.
 */
export function codeableConcept(
  segment: Hl7Segment,
  field: number,
  repetition = 0
): CodeableConcept | undefined {
  const read = (component: number): string => textValue(segment, field, component, 1, repetition);
  const codings = [coding(read(1), read(2), read(3)), coding(read(4), read(5), read(6))].filter(
    (c): c is Coding => c !== undefined
  );
  const text = read(9) || read(2) || read(5);
  if (codings.length === 0 && text === '') {
    return undefined;
  }
  return { ...(codings.length === 0 ? {} : { coding: codings }), ...(text === '' ? {} : { text }) };
}
