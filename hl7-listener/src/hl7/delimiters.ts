import { STANDARD_ENCODING, isStandardEncoding, type EncodingCharacters } from './encoding.js';

const SEQUENCE_FOR_DELIMITER: Record<keyof Omit<EncodingCharacters, 'truncation'>, string> = {
  field: 'F',
  component: 'S',
  repetition: 'R',
  escape: 'E',
  subcomponent: 'T',
};

function hexEscape(char: string): string {
  const hex = Buffer.from(char, 'utf8').toString('hex').toUpperCase();
  return `\\X${hex}\\`;
}

/**
 * Rewrites a message that declares custom delimiters (for example `MSH^~|\&`) into the standard
 * `|^~\&` form, keeping its meaning.
 *
 * hl7-standard 1.0.4 hard-codes `|` as field and `^` as component separator (only the repetition and
 * subcomponent characters are options), so it would misparse such messages. The rewrite maps each
 * declared delimiter to the standard one, escapes data characters that are standard delimiters
 * (`\F\`, `\S\`...), and turns escape sequences that named a custom delimiter into `\Xhh\` of that
 * character, so decoding yields the same text as the original.
 * @param segments - The message's segments, MSH first, without terminators.
 * @param encoding - The delimiters declared in MSH-1 and MSH-2.
 * @returns The segments in standard form (unchanged when the message already uses them).
 */
export function toStandardDelimiters(segments: string[], encoding: EncodingCharacters): string[] {
  if (isStandardEncoding(encoding)) {
    return segments;
  }
  return segments.map((segment, index) =>
    index === 0 ? rewriteHeader(segment, encoding) : rewriteSegment(segment, encoding)
  );
}

function rewriteHeader(msh: string, encoding: EncodingCharacters): string {
  const declaredLength = encoding.truncation === undefined ? 4 : 5;
  const rest = msh.slice(4 + declaredLength);
  const standardMsh2 = `${STANDARD_ENCODING.component}${STANDARD_ENCODING.repetition}${STANDARD_ENCODING.escape}${STANDARD_ENCODING.subcomponent}${encoding.truncation ?? ''}`;
  return `MSH${STANDARD_ENCODING.field}${standardMsh2}${rewriteSegment(rest, encoding)}`;
}

function rewriteSegment(segment: string, encoding: EncodingCharacters): string {
  const delimiterOf = new Map<string, keyof typeof SEQUENCE_FOR_DELIMITER>([
    [encoding.field, 'field'],
    [encoding.component, 'component'],
    [encoding.repetition, 'repetition'],
    [encoding.escape, 'escape'],
    [encoding.subcomponent, 'subcomponent'],
  ]);
  const standardDataEscape: Record<string, string> = {
    '|': '\\F\\',
    '^': '\\S\\',
    '~': '\\R\\',
    '\\': '\\E\\',
    '&': '\\T\\',
  };

  let output = '';
  let index = 0;
  while (index < segment.length) {
    const char = segment.charAt(index);
    const role = delimiterOf.get(char);

    if (role === 'escape') {
      const end = segment.indexOf(encoding.escape, index + 1);
      if (end === -1) {
        // An unterminated escape is data: keep the character itself.
        output += hexEscape(char);
        index += 1;
        continue;
      }
      output += rewriteEscape(segment.slice(index + 1, end), encoding);
      index = end + 1;
      continue;
    }

    if (role !== undefined) {
      output += STANDARD_ENCODING[role];
    } else {
      output += standardDataEscape[char] ?? char;
    }
    index += 1;
  }
  return output;
}

function rewriteEscape(body: string, encoding: EncodingCharacters): string {
  for (const [role, sequence] of Object.entries(SEQUENCE_FOR_DELIMITER) as [
    keyof typeof SEQUENCE_FOR_DELIMITER,
    string,
  ][]) {
    if (body === sequence) {
      // The sequence names the message's own delimiter, which is a different character after the rewrite.
      return encoding[role] === STANDARD_ENCODING[role] ? `\\${sequence}\\` : hexEscape(encoding[role]);
    }
  }
  return `\\${body}\\`;
}
