import type {
  Annotation,
  Attachment,
  CodeableConcept,
  Extension,
  Observation,
  ObservationReferenceRange,
  Patient,
  Reference,
} from '@medplum/fhirtypes';
import { HL7_RESULT_ID_SYSTEM } from '@monitormed/common';
import { Hl7DateTimeError, needsFacilityTimeZone, toFhirDateTime } from '../hl7/datetime.js';
import { ERROR_CODES, Hl7ProcessingError, type ErrorLocation } from '../hl7/hl7-error.js';
import { repetitionCount, repetitionText, textValue, type Hl7Segment } from '../hl7/segment.js';
import { codeableConcept } from './code-systems.js';
import { assumedTimeZoneExtension } from './extensions.js';
import { entityIdentifier, organizationReference, practitionerReferences } from './identifiers.js';
import { unitsOf } from './numeric-value.js';
import { mapObservationValue } from './observation-value.js';

/**
 * OBX-11 observation result status (HL7 table 0085) to Observation.status, after the HL7 v2-to-FHIR IG's
 * concept map. The IG leaves B, I, N, O, R, S, U and V unmapped; the closest R4 status is used for them.
 */
const OBSERVATION_STATUS: Record<string, Observation['status']> = {
  A: 'amended',
  B: 'amended',
  C: 'corrected',
  D: 'entered-in-error',
  F: 'final',
  I: 'registered',
  N: 'cancelled',
  O: 'registered',
  P: 'preliminary',
  R: 'preliminary',
  S: 'preliminary',
  U: 'final',
  V: 'final',
  W: 'entered-in-error',
  X: 'cancelled',
};

const INTERPRETATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
const V2_INTERPRETATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v2-0078';

/**
 * HL7 table 0078 codes that the IG maps to the same code in v3-ObservationInterpretation. The others
 * (AC, HM, OBX, QCF, TOX) are inactive there and keep the v2-0078 system.
 */
const V3_INTERPRETATIONS = new Set(
  (
    '< > A AA B CAR D DET E EX EXP H HH HU I IE IND L LL LU MS N NCL ND NEG NR NS POS R RR S SDD SYN-R ' +
    'SYN-S U UNE VS W WR'
  ).split(' ')
);

/**
 * Converts an HL7 date/time field, reporting a malformed value as ERR 102 at its location.
 * @returns The FHIR dateTime, or undefined when the field is empty.
 */
export function dateTimeAt(
  value: string,
  location: ErrorLocation,
  facilityTimeZone: string
): string | undefined {
  if (value === '') {
    return undefined;
  }
  try {
    return toFhirDateTime(value, facilityTimeZone);
  } catch (err) {
    if (err instanceof Hl7DateTimeError) {
      throw new Hl7ProcessingError({
        ackCode: 'AE',
        errorCode: ERROR_CODES.dataTypeError,
        location,
        text: `${location.segment}-${String(location.field ?? '')} is not a valid HL7 date/time: expected YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]`,
      });
    }
    throw err;
  }
}

/**
 * Returns the assumed time zone extension for an element filled from `value`, or none when the value
 * carries its own offset or no time.
 */
export function zoneExtensions(value: string, element: string, facilityTimeZone: string): Extension[] {
  return value !== '' && needsFacilityTimeZone(value)
    ? [assumedTimeZoneExtension(element, facilityTimeZone)]
    : [];
}

/**
 * Joins NTE-3 comments into FHIR annotations, one per NTE segment and one line per repetition. NTE-3 is
 * FT, so `^` and `&` found in it are text sent unescaped, and `\.br\` becomes a line break.
 */
export function notesOf(ntes: Hl7Segment[]): Annotation[] {
  return ntes
    .map((nte) => {
      const lines: string[] = [];
      for (let repetition = 0; repetition < repetitionCount(nte, 3); repetition += 1) {
        lines.push(repetitionText(nte, 3, repetition).trim());
      }
      return lines.join('\n');
    })
    .filter((text) => text !== '')
    .map((text) => ({ text }));
}

/** Inputs of an Observation besides its OBX. */
export interface ObservationContext {
  subject: Reference<Patient>;
  /** Value in HL7_RESULT_ID_SYSTEM, `{MSH-4}|{MSH-10}|{OBR set id}|{OBX set id}`. */
  identifierValue: string;
  /** OBR-7 (or OBR-7 to OBR-8), used when OBX-14 is empty. */
  fallbackEffective: string | undefined;
  /** Extensions of the fallback effective time, such as its assumed time zone. */
  fallbackEffectiveExtensions?: Extension[];
  notes: Hl7Segment[];
  facilityTimeZone: string;
  /** Largest decoded ED payload, in bytes. */
  maxAttachmentBytes?: number;
}

/** An Observation mapped from OBX, and the ED payload to store beside it. */
export interface MappedObservation {
  observation: Observation;
  attachment?: Attachment;
}

function statusOf(obx: Hl7Segment): Observation['status'] {
  const code = textValue(obx, 11).toUpperCase();
  const location = { segment: 'OBX', segmentSequence: obx.occurrence, field: 11 };
  if (code === '') {
    throw new Hl7ProcessingError({
      ackCode: 'AE',
      errorCode: ERROR_CODES.requiredFieldMissing,
      location,
      text: 'OBX-11 observation result status is required but empty; send a code of HL7 table 0085 such as F',
    });
  }
  const status = OBSERVATION_STATUS[code];
  if (status === undefined) {
    throw new Hl7ProcessingError({
      ackCode: 'AE',
      errorCode: ERROR_CODES.tableValueNotFound,
      location,
      text: `OBX-11 observation result status ${code} is not in HL7 table 0085`,
    });
  }
  return status;
}

function interpretationsOf(obx: Hl7Segment): CodeableConcept[] {
  const interpretation: CodeableConcept[] = [];
  for (let repetition = 0; repetition < repetitionCount(obx, 8); repetition += 1) {
    const flag = textValue(obx, 8, 1, 1, repetition);
    const system = textValue(obx, 8, 3, 1, repetition).toUpperCase();
    if (flag === '') {
      continue;
    }
    if (system !== '' && system !== 'HL70078') {
      // A CWE interpretation (v2.7 and later) from another code system is read as a coded value.
      const concept = codeableConcept(obx, 8, repetition);
      if (concept !== undefined) {
        interpretation.push(concept);
      }
      continue;
    }
    const code = flag.toUpperCase();
    interpretation.push({
      coding: [
        V3_INTERPRETATIONS.has(code)
          ? { system: INTERPRETATION_SYSTEM, code }
          : { system: V2_INTERPRETATION_SYSTEM, code: flag },
      ],
    });
  }
  return interpretation;
}

const NUMBER = '([+-]?(?:\\d+\\.?\\d*|\\.\\d+))';
const BOUNDED_RANGE = new RegExp(`^${NUMBER}\\s*-\\s*${NUMBER}$`);
const UPPER_LIMIT = new RegExp(`^<=?\\s*${NUMBER}$`);
const LOWER_LIMIT = new RegExp(`^>=?\\s*${NUMBER}$`);

/**
 * Reads OBX-7 as a reference range. The text is always kept, and low and high are filled with the
 * OBX-6 units when the text is `low-high`, `<high`, `<=high`, `>low` or `>=low`, as the IG allows when
 * OBX-7 is parseable.
 */
function referenceRangeOf(obx: Hl7Segment): ObservationReferenceRange[] {
  const text = repetitionText(obx, 7).trim();
  if (text === '') {
    return [];
  }
  const units = unitsOf(obx);
  const bounded = BOUNDED_RANGE.exec(text);
  if (bounded !== null) {
    return [
      { low: { ...units, value: Number(bounded[1]) }, high: { ...units, value: Number(bounded[2]) }, text },
    ];
  }
  const upper = UPPER_LIMIT.exec(text);
  if (upper !== null) {
    return [{ high: { ...units, value: Number(upper[1]) }, text }];
  }
  const lower = LOWER_LIMIT.exec(text);
  if (lower !== null) {
    return [{ low: { ...units, value: Number(lower[1]) }, text }];
  }
  return [{ text }];
}

/**
 * Maps one OBX (with its NTEs) to an Observation without AI labelling, per the HL7 v2-to-FHIR IG's OBX
 * to Observation map. OBX-3 becomes code, OBX-5 the value by OBX-2, OBX-7 referenceRange, OBX-8
 * interpretation and OBX-11 status. OBX-14 (else OBR-7) becomes effectiveDateTime, OBX-16 and OBX-23
 * performer, OBX-17 method, OBX-18 device, and the NTEs become notes.
 * @returns The Observation, and an attachment when OBX-5 is of type ED.
 * @throws Hl7ProcessingError (AE) when OBX-3 or OBX-11 is empty or invalid, or a value does not fit its type.
 */
export function mapObservation(obx: Hl7Segment, context: ObservationContext): MappedObservation {
  const code: CodeableConcept | undefined = codeableConcept(obx, 3);
  if (code === undefined) {
    throw new Hl7ProcessingError({
      ackCode: 'AE',
      errorCode: ERROR_CODES.requiredFieldMissing,
      location: { segment: 'OBX', segmentSequence: obx.occurrence, field: 3 },
      text: 'OBX-3 observation identifier is required but empty',
    });
  }
  const status = statusOf(obx);

  const obx14 = textValue(obx, 14);
  const ownEffective = dateTimeAt(
    obx14,
    { segment: 'OBX', segmentSequence: obx.occurrence, field: 14 },
    context.facilityTimeZone
  );
  const effective = ownEffective ?? context.fallbackEffective;
  const effectiveExtensions =
    ownEffective === undefined
      ? (context.fallbackEffectiveExtensions ?? [])
      : zoneExtensions(obx14, 'effectiveDateTime', context.facilityTimeZone);

  const {
    extension: valueExtensions = [],
    attachment,
    ...value
  } = mapObservationValue(obx, {
    facilityTimeZone: context.facilityTimeZone,
    ...(context.maxAttachmentBytes === undefined ? {} : { maxAttachmentBytes: context.maxAttachmentBytes }),
  });
  const interpretation = interpretationsOf(obx);
  const referenceRange = referenceRangeOf(obx);
  const method = codeableConcept(obx, 17);
  const equipment = entityIdentifier(obx, 18);
  const performingOrganization = organizationReference(obx, 23);
  const performer = [
    ...practitionerReferences(obx, 16),
    ...(performingOrganization === undefined ? [] : [performingOrganization]),
  ];
  const notes = notesOf(context.notes);
  const extension = [...valueExtensions, ...effectiveExtensions];

  const observation: Observation = {
    resourceType: 'Observation',
    ...(extension.length === 0 ? {} : { extension }),
    identifier: [{ system: HL7_RESULT_ID_SYSTEM, value: context.identifierValue }],
    status,
    code,
    subject: context.subject,
    ...(effective === undefined ? {} : { effectiveDateTime: effective }),
    ...value,
    ...(interpretation.length === 0 ? {} : { interpretation }),
    ...(notes.length === 0 ? {} : { note: notes }),
    ...(performer.length === 0 ? {} : { performer }),
    ...(method === undefined ? {} : { method }),
    ...(equipment === undefined ? {} : { device: { identifier: equipment } }),
    ...(referenceRange.length === 0 ? {} : { referenceRange }),
  };
  return attachment === undefined ? { observation } : { observation, attachment };
}
