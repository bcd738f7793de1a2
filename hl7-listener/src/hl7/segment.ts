import { decodeEscapes } from './escape.js';

/** One component as a list of subcomponents, still escaped. */
export type Hl7Component = string[];

/** One repetition of a field as a list of components. */
export type Hl7Repetition = Hl7Component[];

/** One field as a list of repetitions. */
export type Hl7Field = Hl7Repetition[];

/** A parsed segment. `fields[n]` is field n as numbered by the standard (MSH-1 is the field separator). */
export interface Hl7Segment {
  name: string;
  fields: Hl7Field[];
  /** 1-based occurrence of this segment id in the message, for ERR-2. */
  occurrence: number;
}

/**
 * Reads one subcomponent, still escaped.
 * @returns The raw text, or '' when absent.
 */
export function rawValue(
  segment: Hl7Segment,
  field: number,
  component = 1,
  subcomponent = 1,
  repetition = 0
): string {
  return segment.fields[field]?.[repetition]?.[component - 1]?.[subcomponent - 1] ?? '';
}

/**
 * Reads one subcomponent with escape sequences decoded, trimmed of surrounding spaces.
 * @returns The text, or '' when absent.
 */
export function textValue(
  segment: Hl7Segment,
  field: number,
  component = 1,
  subcomponent = 1,
  repetition = 0
): string {
  return decodeEscapes(rawValue(segment, field, component, subcomponent, repetition)).trim();
}

/**
 * Reads a whole repetition as text: components joined by `^` and subcomponents by `&`, then decoded.
 * Text types (ST, TX, FT) cannot have components, so separators found in them are data sent unescaped.
 */
export function repetitionText(segment: Hl7Segment, field: number, repetition = 0): string {
  const value = segment.fields[field]?.[repetition] ?? [];
  return decodeEscapes(value.map((component) => component.join('&')).join('^'));
}

/** Number of repetitions of a field (0 when empty). */
export function repetitionCount(segment: Hl7Segment, field: number): number {
  const value = segment.fields[field] ?? [];
  const nonEmpty = value.filter((repetition) =>
    repetition.some((component) => component.some((sub) => sub !== ''))
  );
  return nonEmpty.length === 0 ? 0 : value.length;
}

/** Tells whether a field has any content. */
export function hasValue(segment: Hl7Segment, field: number): boolean {
  return repetitionCount(segment, field) > 0;
}
