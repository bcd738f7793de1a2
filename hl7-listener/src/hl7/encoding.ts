/** The delimiters a message declares in MSH-1 and MSH-2 (HL7 v2.5.1 section 2.5.4). */
export interface EncodingCharacters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
  /** Truncation character, the optional fifth MSH-2 character introduced in v2.7. */
  truncation?: string;
}

/** The recommended delimiters `|^~\&`, which hl7-standard and the rest of the listener work with. */
export const STANDARD_ENCODING: EncodingCharacters = {
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
};

/**
 * Tells whether a message uses the standard field, component, repetition, escape and subcomponent characters.
 * @param encoding - The message's delimiters.
 * @returns True when no delimiter differs from {@link STANDARD_ENCODING}.
 */
export function isStandardEncoding(encoding: EncodingCharacters): boolean {
  return (
    encoding.field === STANDARD_ENCODING.field &&
    encoding.component === STANDARD_ENCODING.component &&
    encoding.repetition === STANDARD_ENCODING.repetition &&
    encoding.escape === STANDARD_ENCODING.escape &&
    encoding.subcomponent === STANDARD_ENCODING.subcomponent
  );
}

/**
 * Checks MSH-1 and MSH-2 and returns the delimiters they declare.
 * @param fieldSeparator - MSH-1, the character after `MSH`.
 * @param encodingField - MSH-2 as received.
 * @returns The delimiters, or a reason when they are invalid.
 */
export function parseEncodingCharacters(
  fieldSeparator: string,
  encodingField: string
): EncodingCharacters | { invalid: string } {
  if (fieldSeparator.length !== 1 || /[A-Za-z0-9\s]/.test(fieldSeparator)) {
    return { invalid: 'MSH-1 field separator must be one printable non-alphanumeric character' };
  }

  const chars = Array.from(encodingField);
  if (chars.length !== 4 && chars.length !== 5) {
    return { invalid: `MSH-2 must contain 4 or 5 encoding characters, found ${chars.length}` };
  }

  const all = [fieldSeparator, ...chars];
  if (new Set(all).size !== all.length) {
    return {
      invalid: 'MSH-2 encoding characters must differ from each other and from the MSH-1 field separator',
    };
  }
  if (chars.some((c) => /[A-Za-z0-9\s]/.test(c))) {
    return { invalid: 'MSH-2 encoding characters must be printable non-alphanumeric characters' };
  }

  const [component = '', repetition = '', escape = '', subcomponent = '', truncation] = chars;
  return truncation === undefined
    ? { field: fieldSeparator, component, repetition, escape, subcomponent }
    : { field: fieldSeparator, component, repetition, escape, subcomponent, truncation };
}
