import type { CodeableConcept, Observation, Quantity } from '@medplum/fhirtypes';
import { Hl7DateTimeError, toFhirDateTime } from '../hl7/datetime.js';
import { ERROR_CODES, Hl7ProcessingError } from '../hl7/hl7-error.js';
import { hasValue, repetitionCount, repetitionText, textValue, type Hl7Segment } from '../hl7/segment.js';
import { codeableConcept } from './code-systems.js';

/** The value[x] and dataAbsentReason part of an Observation. */
export type ObservationValue = Pick<
  Observation,
  | 'valueQuantity'
  | 'valueString'
  | 'valueCodeableConcept'
  | 'valueDateTime'
  | 'valueRange'
  | 'valueRatio'
  | 'dataAbsentReason'
>;

const UCUM = 'http://unitsofmeasure.org';

/** SN comparators FHIR Quantity.comparator can carry. */
const COMPARATORS = new Set(['<', '<=', '>=', '>']);

function valueError(obx: Hl7Segment, text: string): Hl7ProcessingError {
  return new Hl7ProcessingError({
    ackCode: 'AE',
    errorCode: ERROR_CODES.dataTypeError,
    location: { segment: 'OBX', segmentSequence: obx.occurrence, field: 5 },
    text,
  });
}

function parseNumber(obx: Hl7Segment, text: string): number {
  // HL7 NM: optional sign, digits and an optional decimal point, no exponent.
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(text)) {
    throw valueError(obx, `OBX-5 value of type NM or SN is not a number`);
  }
  return Number(text);
}

/**
 * Reads OBX-6 units as a Quantity without value: UCUM when OBX-6.3 (or 6.6) names UCUM, else unit text only.
 */
export function unitsOf(obx: Hl7Segment): Omit<Quantity, 'value'> {
  const code = textValue(obx, 6, 1);
  const text = textValue(obx, 6, 2) || code;
  if (code === '' && text === '') {
    return {};
  }
  const isUcum = [textValue(obx, 6, 3), textValue(obx, 6, 6)].some(
    (system) => system.toUpperCase() === 'UCUM'
  );
  return isUcum ? { unit: text, system: UCUM, code } : { unit: text };
}

function structuredNumeric(obx: Hl7Segment): ObservationValue {
  const comparator = textValue(obx, 5, 1);
  const first = textValue(obx, 5, 2);
  const separator = textValue(obx, 5, 3);
  const second = textValue(obx, 5, 4);
  const units = unitsOf(obx);

  if (separator === '-' && second !== '') {
    return {
      valueRange: {
        low: { ...units, value: parseNumber(obx, first) },
        high: { ...units, value: parseNumber(obx, second) },
      },
    };
  }
  if ((separator === ':' || separator === '/') && second !== '') {
    return {
      valueRatio: {
        numerator: { value: parseNumber(obx, first) },
        denominator: { value: parseNumber(obx, second) },
      },
    };
  }
  if (separator === '+' && second === '') {
    // "<num>+" means the value or more.
    return { valueQuantity: { ...units, value: parseNumber(obx, first), comparator: '>=' } };
  }
  if (comparator === '<>') {
    throw valueError(obx, 'OBX-5 SN comparator <> cannot be represented as a FHIR quantity');
  }
  const quantity: Quantity = { ...units, value: parseNumber(obx, first) };
  return {
    valueQuantity: COMPARATORS.has(comparator)
      ? { ...quantity, comparator: comparator as Quantity['comparator'] }
      : quantity,
  };
}

function textLines(obx: Hl7Segment): string {
  const lines: string[] = [];
  for (let repetition = 0; repetition < repetitionCount(obx, 5); repetition += 1) {
    lines.push(repetitionText(obx, 5, repetition));
  }
  return lines.join('\n');
}

/**
 * Maps OBX-5 to value[x] by OBX-2 value type: NM to valueQuantity, SN to valueQuantity with comparator,
 * valueRange or valueRatio, ST/TX/FT to valueString, CE/CWE/CNE to valueCodeableConcept, DT/TS/DTM to
 * valueDateTime. Other types keep their text as valueString. An empty OBX-5 becomes a dataAbsentReason.
 * @param obx - The OBX segment.
 * @param facilityTimeZone - Zone for times without offset.
 * @returns The value part of the Observation.
 * @throws Hl7ProcessingError (AE, ERR 102 at OBX-5) when the value does not fit its type.
 */
export function mapObservationValue(obx: Hl7Segment, facilityTimeZone: string): ObservationValue {
  if (!hasValue(obx, 5)) {
    const notPerformed = ['X', 'N'].includes(textValue(obx, 11).toUpperCase());
    const code = notPerformed ? 'not-performed' : 'unknown';
    const absent: CodeableConcept = {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code }],
    };
    return { dataAbsentReason: absent };
  }

  const valueType = textValue(obx, 2).toUpperCase();
  switch (valueType) {
    case 'NM':
      return { valueQuantity: { ...unitsOf(obx), value: parseNumber(obx, textValue(obx, 5)) } };
    case 'SN':
      return structuredNumeric(obx);
    case 'CE':
    case 'CWE':
    case 'CNE': {
      const concept = codeableConcept(obx, 5);
      return concept === undefined ? { valueString: textLines(obx) } : { valueCodeableConcept: concept };
    }
    case 'DT':
    case 'TS':
    case 'DTM':
      try {
        return { valueDateTime: toFhirDateTime(textValue(obx, 5, 1), facilityTimeZone) };
      } catch (err) {
        if (err instanceof Hl7DateTimeError) {
          throw valueError(obx, `OBX-5 value of type ${valueType} is not a valid HL7 date/time`);
        }
        throw err;
      }
    default:
      return { valueString: textLines(obx) };
  }
}
