/**
 * Types for the parts of hl7-standard 1.0.4 (CommonJS, ships no types) that the listener uses.
 * The library's option names are misleading: `subComponents` is the repetition separator (`~`) and
 * `repeatingFields` is the subcomponent separator (`&`); `|` and `^` are hard-coded.
 */
declare module 'hl7-standard' {
  namespace HL7 {
    /** One component: a string, or its subcomponents when it contains the subcomponent separator. */
    type ComponentValue = string | string[];

    /** Components of one field or repetition, keyed `SEG.field.component`. */
    type ComponentMap = Record<string, ComponentValue>;

    /**
     * A field as transformed: plain text, a component map, subcomponents of a field without components
     * (array of strings), or repetitions (array of component maps).
     */
    type FieldValue = string | ComponentMap | string[] | ComponentMap[];

    interface Segment {
      /** Segment id such as `OBX`. */
      type: string;
      /** Position of the segment in the message, from 0. */
      index: number;
      /** Fields keyed `SEG.n`, numbered as in the HL7 standard (MSH.2 is the encoding characters). */
      data: Record<string, FieldValue>;
    }

    interface ParseOptions {
      /** Repetition separator. */
      subComponents?: string;
      /** Subcomponent separator. */
      repeatingFields?: string;
      lineEndings?: string;
    }
  }

  class HL7 {
    constructor(data?: string, opts?: HL7.ParseOptions);

    /** Parses `raw`; throws when it does not start with MSH/FHS/BHS or has invalid segment names. */
    transform(callback?: (err: Error | null) => void, batch?: boolean): void;

    /** Segments of one type, or every segment (grouped by type) when no type is given. */
    getSegments(segment?: string): HL7.Segment[];
  }

  export = HL7;
}
