import type { Identifier } from '@medplum/fhirtypes';
import { textValue, type Hl7Segment } from '../hl7/segment.js';

const IDENTIFIER_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v2-0203';

/**
 * Reads an EI field (`entity id^namespace id^universal id^universal id type`) as an Identifier, per the
 * IG's EI to Identifier map: the system is `urn:oid:` of an ISO universal id or a URI universal id.
 * A namespace alone names no global system, so such an identifier has a value only.
 * @param typeCode - v2-0203 identifier type to add, such as `PLAC` or `FILL`.
 * @returns The identifier, or undefined when the entity id is empty.
 */
export function entityIdentifier(
  segment: Hl7Segment,
  field: number,
  typeCode?: string
): Identifier | undefined {
  const value = textValue(segment, field, 1);
  if (value === '') {
    return undefined;
  }
  const universalId = textValue(segment, field, 3);
  const universalIdType = textValue(segment, field, 4).toUpperCase();
  let system: string | undefined;
  if (universalIdType === 'ISO' && /^[0-2](\.\d+)+$/.test(universalId)) {
    system = `urn:oid:${universalId}`;
  } else if (universalIdType === 'URI' || /^(https?|urn):/i.test(universalId)) {
    system = universalId;
  }
  return {
    ...(typeCode === undefined
      ? {}
      : { type: { coding: [{ system: IDENTIFIER_TYPE_SYSTEM, code: typeCode }] } }),
    ...(system === undefined ? {} : { system }),
    value,
  };
}
