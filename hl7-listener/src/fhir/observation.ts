import type { Annotation, CodeableConcept, Observation, Patient, Reference } from '@medplum/fhirtypes';
import { HL7_RESULT_ID_SYSTEM } from '@monitormed/common';
import { Hl7DateTimeError, toFhirDateTime } from '../hl7/datetime.js';
import { ERROR_CODES, Hl7ProcessingError, type ErrorLocation } from '../hl7/hl7-error.js';
import { repetitionCount, textValue, type Hl7Segment } from '../hl7/segment.js';
import { codeableConcept } from './code-systems.js';
import { mapObservationValue } from './observation-value.js';

/** OBX-11 observation result status (HL7 table 0085) to Observation.status. */
const OBSERVATION_STATUS: Record<string, Observation['status']> = {
  F: 'final',
  C: 'corrected',
  P: 'preliminary',
  R: 'preliminary',
  S: 'preliminary',
  I: 'registered',
  X: 'cancelled',
  N: 'cancelled',
  D: 'entered-in-error',
  W: 'entered-in-error',
  U: 'final',
};

const INTERPRETATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';

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
        text: `${location.segment}-${location.field ?? ''} is not a valid HL7 date/time`,
      });
    }
    throw err;
  }
}

/**
 * Joins NTE-3 comments into FHIR annotations, one per NTE segment.
 */
export function notesOf(ntes: Hl7Segment[]): Annotation[] {
  return ntes
    .map((nte) => {
      const lines: string[] = [];
      for (let repetition = 0; repetition < repetitionCount(nte, 3); repetition += 1) {
        lines.push(textValue(nte, 3, 1, 1, repetition));
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
  /** OBR-7, used when OBX-14 is empty. */
  fallbackEffective: string | undefined;
  notes: Hl7Segment[];
  facilityTimeZone: string;
}

/**
 * Maps one OBX (with its NTEs) to an Observation without AI labelling.
 * @throws Hl7ProcessingError (AE) when OBX-3 is empty or a value does not fit its type.
 */
export function mapObservation(obx: Hl7Segment, context: ObservationContext): Observation {
  const code: CodeableConcept | undefined = codeableConcept(obx, 3);
  if (code === undefined) {
    throw new Hl7ProcessingError({
      ackCode: 'AE',
      errorCode: ERROR_CODES.requiredFieldMissing,
      location: { segment: 'OBX', segmentSequence: obx.occurrence, field: 3 },
      text: 'OBX-3 observation identifier is required but empty',
    });
  }

  const effective =
    dateTimeAt(
      textValue(obx, 14),
      { segment: 'OBX', segmentSequence: obx.occurrence, field: 14 },
      context.facilityTimeZone
    ) ?? context.fallbackEffective;
  const referenceRange = textValue(obx, 7);
  const interpretation: CodeableConcept[] = [];
  for (let repetition = 0; repetition < repetitionCount(obx, 8); repetition += 1) {
    const flag = textValue(obx, 8, 1, 1, repetition);
    if (flag !== '') {
      interpretation.push({ coding: [{ system: INTERPRETATION_SYSTEM, code: flag }] });
    }
  }
  const notes = notesOf(context.notes);

  return {
    resourceType: 'Observation',
    identifier: [{ system: HL7_RESULT_ID_SYSTEM, value: context.identifierValue }],
    status: OBSERVATION_STATUS[textValue(obx, 11).toUpperCase()] ?? 'unknown',
    code,
    subject: context.subject,
    ...(effective === undefined ? {} : { effectiveDateTime: effective }),
    ...mapObservationValue(obx, context.facilityTimeZone),
    ...(interpretation.length === 0 ? {} : { interpretation }),
    ...(referenceRange === '' ? {} : { referenceRange: [{ text: referenceRange }] }),
    ...(notes.length === 0 ? {} : { note: notes }),
  };
}
