import type { Bundle, HumanName, Identifier, Patient } from '@medplum/fhirtypes';
import type { FhirClient } from '@monitormed/common';
import { toFhirDateTime } from '../hl7/datetime.js';
import { ERROR_CODES, Hl7ProcessingError } from '../hl7/hl7-error.js';
import { repetitionCount, textValue, type Hl7Segment } from '../hl7/segment.js';
import type { ListenerConfig } from '../config.js';
import { escapeSearchValue, tokenSearchValue } from './search.js';

/** The patient a message is about: the identifier that finds it and the demographics used to create it. */
export interface PatientIdentity {
  identifier: Identifier & { system: string; value: string };
  /** The other PID-3 repetitions with a known system, stored on a created Patient. */
  otherIdentifiers: Identifier[];
  /** PID-5 patient names, stored on a created Patient. */
  names: HumanName[];
  gender?: Patient['gender'];
  /** PID-7 as sent, converted only when the Patient is created. */
  birthDateHl7: string;
  /** Occurrence of the PID segment in the message, for ERR-2. */
  pidOccurrence: number;
}

/** PID-8 administrative sex (HL7 table 0001) to FHIR AdministrativeGender. */
const GENDERS: Record<string, Patient['gender']> = {
  M: 'male',
  F: 'female',
  O: 'other',
  A: 'other',
  N: 'other',
  U: 'unknown',
};

function pid3Error(pid: Hl7Segment, text: string, component?: number): Hl7ProcessingError {
  return new Hl7ProcessingError({
    ackCode: 'AE',
    errorCode: ERROR_CODES.requiredFieldMissing,
    location:
      component === undefined
        ? { segment: 'PID', segmentSequence: pid.occurrence, field: 3 }
        : { segment: 'PID', segmentSequence: pid.occurrence, field: 3, component },
    text,
  });
}

/**
 * Chooses the identifier system of one PID-3 repetition (CX data type
 * `id^^^namespace&universalId&universalIdType^typeCode`): a URI universal id, the configured system
 * of the namespace, an ISO OID as `urn:oid:`, or the configured default for identifiers without authority.
 */
function identifierSystem(
  pid: Hl7Segment,
  field: number,
  repetition: number,
  config: Pick<ListenerConfig, 'patientIdentifierSystems' | 'defaultPatientIdentifierSystem'>
): string | undefined {
  const namespace = textValue(pid, field, 4, 1, repetition);
  const universalId = textValue(pid, field, 4, 2, repetition);
  const universalIdType = textValue(pid, field, 4, 3, repetition).toUpperCase();

  if (universalIdType === 'URI' || /^(https?|urn):/i.test(universalId)) {
    return universalId;
  }
  const configured = config.patientIdentifierSystems[namespace];
  if (configured !== undefined) {
    return configured;
  }
  if (universalIdType === 'ISO' && /^[0-2](\.\d+)+$/.test(universalId)) {
    return `urn:oid:${universalId}`;
  }
  return config.defaultPatientIdentifierSystem;
}

/** XPN-7 name type (HL7 table 0200) to HumanName.use, as the IG's NameType concept map gives it. */
const NAME_USES: Record<string, HumanName['use']> = {
  BAD: 'old',
  D: 'usual',
  L: 'official',
  M: 'maiden',
  MSK: 'anonymous',
  N: 'nickname',
  NAV: 'temp',
  R: 'official',
  TEMP: 'temp',
};

/**
 * Reads PID-5 repetitions (XPN: family^given^second given^suffix^prefix^degree^name type) as HumanNames.
 * The family name is XPN-1.1, since XPN-1 is an FN whose later subcomponents hold surname prefixes.
 */
function readNames(pid: Hl7Segment): HumanName[] {
  const names: HumanName[] = [];
  for (let repetition = 0; repetition < repetitionCount(pid, 5); repetition += 1) {
    const read = (component: number): string => textValue(pid, 5, component, 1, repetition);
    const family = read(1);
    const given = [read(2), read(3)].filter((part) => part !== '');
    const suffix = read(4);
    const prefix = read(5);
    const use = NAME_USES[read(7).toUpperCase()];
    if (family === '' && given.length === 0) {
      continue;
    }
    names.push({
      ...(use === undefined ? {} : { use }),
      ...(family === '' ? {} : { family }),
      ...(given.length === 0 ? {} : { given }),
      ...(prefix === '' ? {} : { prefix: [prefix] }),
      ...(suffix === '' ? {} : { suffix: [suffix] }),
    });
  }
  return names;
}

/** PID fields of type CX that identify the patient, in order of preference: PID-3, then PID-2 and PID-4 of v2.3 and older senders. */
const PATIENT_ID_FIELDS = [3, 2, 4];

/**
 * Reads the patient identity from PID. The repetition of PID-3 with type code MR is preferred, else the
 * first one with a value and a resolvable system; PID-2 and PID-4 (patient id fields before v2.4) are
 * used only when PID-3 has no usable identifier.
 * @param pid - The PID segment.
 * @param config - Namespace table and default system.
 * @returns The identity.
 * @throws Hl7ProcessingError (AE, ERR at PID-3) when no identifier with a known system is present.
 */
export function readPatientIdentity(
  pid: Hl7Segment,
  config: Pick<ListenerConfig, 'patientIdentifierSystems' | 'defaultPatientIdentifierSystem'>
): PatientIdentity {
  const candidates: { identifier: PatientIdentity['identifier']; typeCode: string }[] = [];
  let sawValue = false;
  for (const field of PATIENT_ID_FIELDS) {
    for (let repetition = 0; repetition < repetitionCount(pid, field); repetition += 1) {
      const value = textValue(pid, field, 1, 1, repetition);
      if (value === '') {
        continue;
      }
      sawValue = true;
      const system = identifierSystem(pid, field, repetition, config);
      if (system !== undefined) {
        const typeCode = textValue(pid, field, 5, 1, repetition);
        const type =
          typeCode === ''
            ? {}
            : {
                type: {
                  coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: typeCode }],
                },
              };
        candidates.push({ identifier: { system, value, ...type }, typeCode });
      }
    }
    if (candidates.length > 0) {
      break;
    }
  }

  const chosen = candidates.find((c) => c.typeCode === 'MR') ?? candidates[0];
  if (chosen === undefined) {
    throw sawValue
      ? pid3Error(
          pid,
          'PID-3 patient identifier has no assigning authority this listener can map to an identifier system (set HL7_PATIENT_ID_SYSTEMS)',
          4
        )
      : pid3Error(pid, 'PID-3 patient identifier is required but empty');
  }

  const gender = GENDERS[textValue(pid, 8).toUpperCase()];
  return {
    identifier: chosen.identifier,
    otherIdentifiers: candidates.filter((c) => c !== chosen).map((c) => c.identifier),
    names: readNames(pid),
    ...(gender === undefined ? {} : { gender }),
    birthDateHl7: textValue(pid, 7),
    pidOccurrence: pid.occurrence,
  };
}

/**
 * Builds the conditional search for a patient identifier, usable as a match URL query.
 * @returns For example `identifier=urn%3Aoid%3A1.2.3|12345`.
 */
export function patientIdentifierQuery(identity: PatientIdentity): string {
  return `identifier=${tokenSearchValue(identity.identifier.system, identity.identifier.value)}`;
}

/**
 * Counts the Patients in the FHIR server that carry the identifier.
 * @returns 0, 1 or more.
 */
export async function countPatients(client: FhirClient, identity: PatientIdentity): Promise<number> {
  const bundle = (await client.search({
    resourceType: 'Patient',
    searchParams: {
      identifier: `${escapeSearchValue(identity.identifier.system)}|${escapeSearchValue(identity.identifier.value)}`,
      _summary: 'count',
    },
    // HAPI reuses cached search results for a minute by default; a patient created meanwhile must be seen.
    options: { headers: { 'Cache-Control': 'no-cache' } },
  })) as unknown as Bundle;
  return bundle.total ?? 0;
}

/**
 * Counts, with one search, the Patients that carry each of several identifiers.
 * @returns The count per {@link patientIdentifierQuery} key; empty when the result did not fit in one
 *   page, so the caller counts one by one.
 */
export async function countPatientsByIdentifier(
  client: FhirClient,
  identities: PatientIdentity[]
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const distinct = new Map(identities.map((identity) => [patientIdentifierQuery(identity), identity]));
  if (distinct.size === 0) {
    return counts;
  }
  const pageSize = 2 * distinct.size + 10;
  const bundle = (await client.search({
    resourceType: 'Patient',
    searchParams: {
      // A comma between token values means OR; commas inside a value are escaped.
      identifier: [...distinct.values()]
        .map(
          ({ identifier }) => `${escapeSearchValue(identifier.system)}|${escapeSearchValue(identifier.value)}`
        )
        .join(','),
      _elements: 'identifier',
      _count: String(pageSize),
    },
    options: { headers: { 'Cache-Control': 'no-cache' } },
  })) as unknown as Bundle<Patient>;
  if ((bundle.link ?? []).some((link) => link.relation === 'next')) {
    return counts;
  }
  const patients = (bundle.entry ?? []).flatMap((entry) =>
    entry.resource === undefined ? [] : [entry.resource]
  );
  for (const [key, { identifier }] of distinct) {
    const matches = patients.filter((patient) =>
      (patient.identifier ?? []).some(
        (id) => id.system === identifier.system && id.value === identifier.value
      )
    );
    counts.set(key, matches.length);
  }
  return counts;
}

/**
 * Builds the Patient created for a result whose patient is not yet known, per the IG's PID to Patient
 * map: PID-3 identifiers, PID-5 names, PID-7 birth date (partial precision kept) and PID-8 gender.
 * @throws Hl7ProcessingError (AE, ERR at PID-7) when the birth date is malformed.
 */
export function buildMinimalPatient(identity: PatientIdentity, facilityTimeZone: string): Patient {
  let birthDate: string | undefined;
  if (identity.birthDateHl7 !== '') {
    try {
      // A time of birth is cut to its date, because Patient.birthDate is a date; YYYY and YYYYMM stay partial.
      birthDate = toFhirDateTime(identity.birthDateHl7, facilityTimeZone).slice(0, 10);
    } catch {
      throw new Hl7ProcessingError({
        ackCode: 'AE',
        errorCode: ERROR_CODES.dataTypeError,
        location: { segment: 'PID', segmentSequence: identity.pidOccurrence, field: 7 },
        text: 'PID-7 date of birth is not a valid HL7 date',
      });
    }
  }
  return {
    resourceType: 'Patient',
    identifier: [identity.identifier, ...identity.otherIdentifiers],
    ...(identity.names.length === 0 ? {} : { name: identity.names }),
    ...(identity.gender === undefined ? {} : { gender: identity.gender }),
    ...(birthDate === undefined ? {} : { birthDate }),
  };
}
