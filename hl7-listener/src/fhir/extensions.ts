import type { Extension } from '@medplum/fhirtypes';
import { MONITORMED_BASE } from '@monitormed/common';

/**
 * OBX-5 exactly as received (escape sequences and formatting commands kept), added when decoding the
 * text for valueString changed it, so no information of the message is lost.
 */
export const HL7V2_RAW_VALUE_EXTENSION = `${MONITORMED_BASE}/StructureDefinition/hl7v2-raw-value`;

/**
 * Records that a date/time element was sent without a UTC offset and got the facility time zone.
 * Complex: `element` (valueString, the FHIR element name) and `timeZone` (valueString, IANA zone).
 */
export const HL7V2_ASSUMED_TIME_ZONE_EXTENSION = `${MONITORMED_BASE}/StructureDefinition/hl7v2-assumed-time-zone`;

/**
 * An NTE comment on an OBR (valueAnnotation), because R4 DiagnosticReport has no note element. The R5
 * cross-version extension `http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note`
 * would fit, but the validator of HAPI FHIR 8.8.0 rejects that URL ("invalid Version '5.0'").
 */
export const HL7V2_REPORT_NOTE_EXTENSION = `${MONITORMED_BASE}/StructureDefinition/hl7v2-report-note`;

/**
 * Builds the raw value extension.
 * @param raw - The field as received, in standard delimiters.
 */
export function rawValueExtension(raw: string): Extension {
  return { url: HL7V2_RAW_VALUE_EXTENSION, valueString: raw };
}

/**
 * Builds the assumed time zone extension for one element.
 * @param element - FHIR element name, such as `effectiveDateTime`.
 * @param timeZone - IANA zone applied.
 */
export function assumedTimeZoneExtension(element: string, timeZone: string): Extension {
  return {
    url: HL7V2_ASSUMED_TIME_ZONE_EXTENSION,
    extension: [
      { url: 'element', valueString: element },
      { url: 'timeZone', valueString: timeZone },
    ],
  };
}
