import { decodeEscapes } from '../hl7/escape.js';

/** Reads the first component of a field in standard delimiters, unescaped and trimmed. */
export function firstComponent(field: string | undefined): string {
  return decodeEscapes((field ?? '').split('^')[0] ?? '').trim();
}

/**
 * Reads PID-3 of the first PID segment without parsing the whole message, as `id^authority` of the first
 * repetition, so messages can be ordered per patient even in immediate mode (before any validation).
 * Delimiters come from MSH-1 and MSH-2 of the text itself.
 * @returns The key, or undefined when the message has no PID or PID-3 is empty.
 */
export function readPatientKey(text: string): string | undefined {
  const fieldSeparator = text.startsWith('MSH') ? text.charAt(3) : '|';
  const encoding = text.slice(4, 8);
  const componentSeparator = encoding.charAt(0) || '^';
  const repetitionSeparator = encoding.charAt(1) || '~';

  const pid = text.split(/\r\n|\r|\n/).find((line) => line.startsWith(`PID${fieldSeparator}`));
  const field = pid?.split(fieldSeparator)[3] ?? '';
  const repetition = field.split(repetitionSeparator)[0] ?? '';
  const components = repetition.split(componentSeparator);
  const id = (components[0] ?? '').trim();
  if (id === '') {
    return undefined;
  }
  return `${id}^${(components[3] ?? '').trim()}`;
}
