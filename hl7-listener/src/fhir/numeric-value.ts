import type { Quantity, Range } from '@medplum/fhirtypes';
import { ERROR_CODES, Hl7ProcessingError } from '../hl7/hl7-error.js';
import { repetitionText, textValue, type Hl7Segment } from '../hl7/segment.js';
import type { ObservationValue } from './observation-value.js';

const UCUM = 'http://unitsofmeasure.org';

/** HL7 v2 NM: an optional sign, digits and an optional decimal point, no exponent (HL7 v2.5.1 section 2.A.47). */
const NM = /^[+-]?(\d+\.?\d*|\.\d+)$/;

/** SN comparators that FHIR Quantity.comparator can carry; `=` means no comparator. */
const COMPARATORS = new Set(['<', '<=', '>=', '>']);

/** SN sent as plain text in its first component, such as `<0.5` or `>=10`. */
const SN_AS_TEXT = /^(<=|>=|<|>|=)?\s*([+-]?(?:\d+\.?\d*|\.\d+))$/;

/**
 * Builds the error for an OBX-5 that does not fit the data type named in OBX-2 (AE, ERR 102 at OBX-5).
 * The text states the rule and never echoes the value, which may be patient data.
 */
export function valueError(obx: Hl7Segment, text: string, component?: number): Hl7ProcessingError {
  return new Hl7ProcessingError({
    ackCode: 'AE',
    errorCode: ERROR_CODES.dataTypeError,
    location:
      component === undefined
        ? { segment: 'OBX', segmentSequence: obx.occurrence, field: 5 }
        : { segment: 'OBX', segmentSequence: obx.occurrence, field: 5, component },
    text,
  });
}

/**
 * Parses HL7 NM text. Leading zeros and signs are allowed (`007`, `+1.5`, `-0.20`, `.5`).
 * @throws Hl7ProcessingError (AE, ERR 102 at OBX-5) when the text is not an NM number.
 */
export function parseNumber(obx: Hl7Segment, text: string, valueType: string, component?: number): number {
  if (!NM.test(text)) {
    throw valueError(
      obx,
      `OBX-5 does not match OBX-2 value type ${valueType}: a number must be an optional sign, digits and an optional decimal point`,
      component
    );
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

/**
 * Maps OBX-5 of type NM to valueQuantity with the OBX-6 units.
 * @throws Hl7ProcessingError (AE, ERR 102 at OBX-5) when OBX-5 is not a number, such as `positive` under NM.
 */
export function mapNumeric(obx: Hl7Segment): ObservationValue {
  // The whole repetition is read so that a value with components (`4^1`) is rejected, not cut.
  const text = repetitionText(obx, 5).trim();
  return { valueQuantity: { ...unitsOf(obx), value: parseNumber(obx, text, 'NM') } };
}

/**
 * Maps OBX-5 of type SN (`comparator^num1^separator^num2`) as the HL7 v2-to-FHIR IG does: a ratio for
 * the separators `:` and `/`, a range for `-`, valueString for the categorical `num+` and for the
 * comparator `<>`, else a quantity with comparator. An SN sent as text in its first component (`<0.5`)
 * is read too.
 * @throws Hl7ProcessingError (AE, ERR 102 at OBX-5) when the parts cannot form one of these values.
 */
export function mapStructuredNumeric(obx: Hl7Segment): ObservationValue {
  const comparator = textValue(obx, 5, 1);
  const first = textValue(obx, 5, 2);
  const separator = textValue(obx, 5, 3);
  const second = textValue(obx, 5, 4);
  const units = unitsOf(obx);

  const asText = SN_AS_TEXT.exec(comparator);
  if (asText !== null && first === '' && separator === '' && second === '') {
    return { valueQuantity: withComparator({ ...units, value: Number(asText[2]) }, asText[1] ?? '') };
  }

  if (comparator === '<>') {
    // FHIR Quantity has no "not equal" comparator, so the IG keeps the parts as text.
    return { valueString: [comparator, first, separator, second].filter((part) => part !== '').join(' ') };
  }
  if (comparator !== '' && comparator !== '=' && !COMPARATORS.has(comparator)) {
    throw valueError(obx, 'OBX-5.1 SN comparator must be one of >, <, >=, <=, = or <>', 1);
  }
  if (first === '') {
    throw valueError(obx, 'OBX-5.2 SN number is required but empty', 2);
  }
  const firstValue = parseNumber(obx, first, 'SN', 2);

  if (separator === '' && second === '') {
    return { valueQuantity: withComparator({ ...units, value: firstValue }, comparator) };
  }
  if (separator === '+' && second === '') {
    // `2+` is a categorical grade (for example urine protein), not "2 or more".
    return { valueString: `${first}+` };
  }
  if (second === '') {
    throw valueError(obx, `OBX-5.4 SN second number is required after the separator ${separator}`, 4);
  }

  const secondValue = parseNumber(obx, second, 'SN', 4);
  if (separator === '-' && comparator === '') {
    const range: Range = { low: { ...units, value: firstValue }, high: { ...units, value: secondValue } };
    return { valueRange: range };
  }
  if ((separator === ':' || separator === '/') && comparator === '') {
    return {
      valueRatio: {
        numerator: { ...units, value: firstValue },
        denominator: { ...units, value: secondValue },
      },
    };
  }
  throw valueError(
    obx,
    'OBX-5 SN must be [comparator]^number, ^number^-^number, ^number^:^number, ^number^/^number or ^number^+',
    3
  );
}

function withComparator(quantity: Quantity, comparator: string): Quantity {
  return COMPARATORS.has(comparator)
    ? { ...quantity, comparator: comparator as Quantity['comparator'] }
    : quantity;
}
