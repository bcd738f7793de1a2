import type { Identifier, Organization, Practitioner, Reference } from '@medplum/fhirtypes';
import { repetitionCount, textValue, type Hl7Segment } from '../hl7/segment.js';

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
  const system = universalIdSystem(textValue(segment, field, 3), textValue(segment, field, 4));
  return {
    ...(typeCode === undefined
      ? {}
      : { type: { coding: [{ system: IDENTIFIER_TYPE_SYSTEM, code: typeCode }] } }),
    ...(system === undefined ? {} : { system }),
    value,
  };
}

/**
 * Returns the identifier system of an HD universal id: `urn:oid:` for an ISO OID, the URI itself for a
 * URI, else undefined (a namespace alone names no global system).
 */
export function universalIdSystem(universalId: string, universalIdType: string): string | undefined {
  if (universalIdType.toUpperCase() === 'ISO' && /^[0-2](\.\d+)+$/.test(universalId)) {
    return `urn:oid:${universalId}`;
  }
  if (
    universalId !== '' &&
    (universalIdType.toUpperCase() === 'URI' || /^(https?|urn):/i.test(universalId))
  ) {
    return universalId;
  }
  return undefined;
}

/**
 * Reads an XCN field (`id^family^given^second given^suffix^prefix^^^assigning authority`) as logical
 * Practitioner references: identifier and display name, no resource of their own. The assigning
 * authority (XCN-9, an HD) gives the identifier system when it is an ISO OID or a URI.
 */
export function practitionerReferences(segment: Hl7Segment, field: number): Reference<Practitioner>[] {
  const references: Reference<Practitioner>[] = [];
  for (let repetition = 0; repetition < repetitionCount(segment, field); repetition += 1) {
    const read = (component: number, subcomponent = 1): string =>
      textValue(segment, field, component, subcomponent, repetition);
    const id = read(1);
    const display = [read(6), read(3), read(4), read(2), read(5)].filter((part) => part !== '').join(' ');
    if (id === '' && display === '') {
      continue;
    }
    const system = universalIdSystem(read(9, 2), read(9, 3));
    references.push({
      type: 'Practitioner',
      ...(id === '' ? {} : { identifier: system === undefined ? { value: id } : { system, value: id } }),
      ...(display === '' ? {} : { display }),
    });
  }
  return references;
}

/**
 * Reads an XON field (`name^^^^^assigning authority^^^^organization id`) as a logical Organization
 * reference with its XON-10 identifier and name, or undefined when both are empty.
 */
export function organizationReference(
  segment: Hl7Segment,
  field: number
): Reference<Organization> | undefined {
  const name = textValue(segment, field, 1);
  const id = textValue(segment, field, 10);
  if (name === '' && id === '') {
    return undefined;
  }
  const system = universalIdSystem(textValue(segment, field, 6, 2), textValue(segment, field, 6, 3));
  return {
    type: 'Organization',
    ...(id === '' ? {} : { identifier: system === undefined ? { value: id } : { system, value: id } }),
    ...(name === '' ? {} : { display: name }),
  };
}
