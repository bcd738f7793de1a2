import type { Attachment, CodeableConcept, Extension, Observation } from '@medplum/fhirtypes';
import { Hl7DateTimeError, needsFacilityTimeZone, toFhirDateTime, toFhirTime } from '../hl7/datetime.js';
import { ERROR_CODES, Hl7ProcessingError } from '../hl7/hl7-error.js';
import { hasValue, repetitionCount, repetitionText, textValue, type Hl7Segment } from '../hl7/segment.js';
import { DEFAULT_MAX_ATTACHMENT_BYTES, decodeEncapsulatedData } from './attachment.js';
import { codeableConcept } from './code-systems.js';
import { assumedTimeZoneExtension, rawValueExtension } from './extensions.js';
import { mapNumeric, mapStructuredNumeric, parseNumber, unitsOf, valueError } from './numeric-value.js';

/** The value[x] and dataAbsentReason part of an Observation. */
export type ObservationValue = Pick<
  Observation,
  | 'valueQuantity'
  | 'valueString'
  | 'valueCodeableConcept'
  | 'valueDateTime'
  | 'valueTime'
  | 'valuePeriod'
  | 'valueRange'
  | 'valueRatio'
  | 'dataAbsentReason'
>;

/** The mapped OBX-5: the value, the extensions that record how it was read, and an ED payload. */
export interface MappedValue extends ObservationValue {
  /** Raw value of decoded text, or the time zone assumed for a date/time without offset. */
  extension?: Extension[];
  /** OBX-5 of type ED, which the transaction stores as a DocumentReference the Observation is derived from. */
  attachment?: Attachment;
}

/** Options of {@link mapObservationValue}. */
export interface ValueOptions {
  /** IANA zone for times without offset. */
  facilityTimeZone: string;
  /** Largest decoded ED payload, in bytes; {@link DEFAULT_MAX_ATTACHMENT_BYTES} when absent. */
  maxAttachmentBytes?: number;
}

/** HL7 table 0125 value types; any other OBX-2 gets an AE. */
const VALUE_TYPES = new Set(
  (
    'AD CD CE CF CK CN CNE CP CWE CX DR DT DTM ED EI FT GTS ID IS MA MO NA NM NR PN RP SN SRT ST TM TN TS TX VR ' +
    'XAD XCN XON XPN XTN'
  ).split(' ')
);

const DATA_ABSENT_REASON = 'http://terminology.hl7.org/CodeSystem/data-absent-reason';

/** Raw text of OBX-5 in standard delimiters, repetitions joined by `~`. */
function rawField(obx: Hl7Segment): string {
  return (obx.fields[5] ?? [])
    .map((repetition) => repetition.map((component) => component.join('&')).join('^'))
    .join('~');
}

/** Reads ST, TX and FT: each repetition is one line, and escape sequences and formatting commands are decoded. */
function mapText(obx: Hl7Segment): MappedValue {
  const lines: string[] = [];
  for (let repetition = 0; repetition < repetitionCount(obx, 5); repetition += 1) {
    lines.push(repetitionText(obx, 5, repetition));
  }
  const text = lines.join('\n');
  const raw = rawField(obx);
  return raw === text ? { valueString: text } : { valueString: text, extension: [rawValueExtension(raw)] };
}

function mapCoded(obx: Hl7Segment, valueType: string): MappedValue {
  if (repetitionCount(obx, 5) > 1) {
    throw valueError(
      obx,
      `OBX-5 of type ${valueType} repeats, but Observation.value holds one coded value; send one OBX per code`
    );
  }
  if (valueType === 'IS' || valueType === 'ID') {
    // IS and ID carry a bare code from a table that OBX does not name.
    const code = textValue(obx, 5);
    return { valueCodeableConcept: { coding: [{ code }], text: code } };
  }
  const concept = codeableConcept(obx, 5);
  if (concept === undefined) {
    throw valueError(obx, `OBX-5 of type ${valueType} has neither a code nor a text`);
  }
  return { valueCodeableConcept: concept };
}

function mapDateTime(obx: Hl7Segment, valueType: string, facilityTimeZone: string): MappedValue {
  const text = textValue(obx, 5, 1);
  try {
    const valueDateTime = toFhirDateTime(text, facilityTimeZone);
    return needsFacilityTimeZone(text)
      ? { valueDateTime, extension: [assumedTimeZoneExtension('valueDateTime', facilityTimeZone)] }
      : { valueDateTime };
  } catch (err) {
    if (err instanceof Hl7DateTimeError) {
      throw valueError(
        obx,
        `OBX-5 does not match OBX-2 value type ${valueType}: expected YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]`
      );
    }
    throw err;
  }
}

function mapTime(obx: Hl7Segment): MappedValue {
  try {
    return { valueTime: toFhirTime(textValue(obx, 5, 1)) };
  } catch (err) {
    if (err instanceof Hl7DateTimeError) {
      throw valueError(obx, 'OBX-5 does not match OBX-2 value type TM: expected HH[MM[SS[.S]]][+/-ZZZZ]');
    }
    throw err;
  }
}

function mapDateRange(obx: Hl7Segment, facilityTimeZone: string): MappedValue {
  const convert = (component: number): string | undefined => {
    const text = textValue(obx, 5, component);
    if (text === '') {
      return undefined;
    }
    try {
      return toFhirDateTime(text, facilityTimeZone);
    } catch (err) {
      if (err instanceof Hl7DateTimeError) {
        throw valueError(obx, 'OBX-5 of type DR must hold HL7 date/times in components 1 and 2', component);
      }
      throw err;
    }
  };
  const start = convert(1);
  const end = convert(2);
  return {
    valuePeriod: { ...(start === undefined ? {} : { start }), ...(end === undefined ? {} : { end }) },
  };
}

function mapNumericRange(obx: Hl7Segment): MappedValue {
  const units = unitsOf(obx);
  const low = textValue(obx, 5, 1);
  const high = textValue(obx, 5, 2);
  return {
    valueRange: {
      ...(low === '' ? {} : { low: { ...units, value: parseNumber(obx, low, 'NR', 1) } }),
      ...(high === '' ? {} : { high: { ...units, value: parseNumber(obx, high, 'NR', 2) } }),
    },
  };
}

/**
 * Maps OBX-5 to value[x] by OBX-2 value type, as the HL7 v2-to-FHIR IG's OBX to Observation map does.
 * NM becomes valueQuantity, and SN valueQuantity with comparator, valueRange, valueRatio or valueString.
 * ST/TX/FT become valueString, with repetitions as lines and the raw text in an extension when decoding
 * changed it. CE/CWE/CNE/CF/IS/ID become valueCodeableConcept, DT/DTM/TS valueDateTime, TM valueTime,
 * DR valuePeriod, NR valueRange, and ED an attachment. Other table 0125 types keep their text as
 * valueString. An empty OBX-5 becomes a dataAbsentReason: `not-asked` for OBX-11 N, `not-performed`
 * for X, else `unknown`.
 * @param obx - The OBX segment.
 * @param options - Facility time zone and ED size limit.
 * @returns The value part of the Observation.
 * @throws Hl7ProcessingError (AE, ERR 102 at OBX-5) when the value does not fit its type, and (AE at OBX-2)
 *   when OBX-2 is empty or not in table 0125.
 */
export function mapObservationValue(obx: Hl7Segment, options: ValueOptions): MappedValue {
  if (!hasValue(obx, 5)) {
    const status = textValue(obx, 11).toUpperCase();
    let code = 'unknown';
    if (status === 'N') {
      code = 'not-asked';
    } else if (status === 'X') {
      code = 'not-performed';
    }
    const absent: CodeableConcept = { coding: [{ system: DATA_ABSENT_REASON, code }] };
    return { dataAbsentReason: absent };
  }

  const valueType = textValue(obx, 2).toUpperCase();
  const location = { segment: 'OBX', segmentSequence: obx.occurrence, field: 2 };
  if (valueType === '') {
    throw new Hl7ProcessingError({
      ackCode: 'AE',
      errorCode: ERROR_CODES.requiredFieldMissing,
      location,
      text: 'OBX-2 value type is required when OBX-5 has a value',
    });
  }
  if (!VALUE_TYPES.has(valueType)) {
    throw new Hl7ProcessingError({
      ackCode: 'AE',
      errorCode: ERROR_CODES.tableValueNotFound,
      location,
      text: `OBX-2 value type ${valueType} is not in HL7 table 0125`,
    });
  }

  switch (valueType) {
    case 'NM':
      return mapNumeric(obx);
    case 'SN':
      return mapStructuredNumeric(obx);
    case 'CE':
    case 'CWE':
    case 'CNE':
    case 'CF':
    case 'IS':
    case 'ID':
      return mapCoded(obx, valueType);
    case 'DT':
    case 'TS':
    case 'DTM':
      return mapDateTime(obx, valueType, options.facilityTimeZone);
    case 'TM':
      return mapTime(obx);
    case 'DR':
      return mapDateRange(obx, options.facilityTimeZone);
    case 'NR':
      return mapNumericRange(obx);
    case 'ED':
      return {
        attachment: decodeEncapsulatedData(obx, options.maxAttachmentBytes ?? DEFAULT_MAX_ATTACHMENT_BYTES),
      };
    default:
      return mapText(obx);
  }
}
