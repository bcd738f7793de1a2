import type {
  CodeableConcept,
  DiagnosticReport,
  Extension,
  Identifier,
  Observation,
  Patient,
  Practitioner,
  Reference,
} from '@medplum/fhirtypes';
import { HL7_RESULT_ID_SYSTEM } from '@monitormed/common';
import { ERROR_CODES, Hl7ProcessingError } from '../hl7/hl7-error.js';
import { repetitionCount, textValue, type Hl7Segment } from '../hl7/segment.js';
import { codeableConcept } from './code-systems.js';
import { HL7V2_REPORT_NOTE_EXTENSION } from './extensions.js';
import { entityIdentifier, universalIdSystem } from './identifiers.js';
import { dateTimeAt, notesOf, zoneExtensions } from './observation.js';
import type { OrderGroup } from './result-groups.js';

/**
 * OBR-25 result status (HL7 table 0123) to DiagnosticReport.status, after the HL7 v2-to-FHIR IG's
 * concept map. The IG leaves A, M and N unmapped; `partial` fits all three (some results, or results
 * not final yet). Y (no order) and Z (no patient) are errors in the IG and here.
 */
const REPORT_STATUS: Record<string, DiagnosticReport['status']> = {
  O: 'registered',
  I: 'registered',
  S: 'registered',
  A: 'partial',
  M: 'partial',
  N: 'partial',
  P: 'preliminary',
  C: 'corrected',
  R: 'partial',
  F: 'final',
  X: 'cancelled',
};

/** HL7 table 0074 diagnostic service section ids, for OBR-24. */
const SERVICE_SECTION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v2-0074';

/**
 * Codes of table 0074 (terminology.hl7.org v2-0074). HAPI's validator rejects a code that the system
 * lacks, so a local OBR-24 value is sent as a code without system.
 */
const SERVICE_SECTIONS = new Set(
  (
    'AU BG BLB CG CH CP CT CTH CUS EC EN HM ICU IMM LAB MB MCB MYC NMR NMS NRS OSL OT OTH OUS PAR PAT PF ' +
    'PHR PHY PT RAD RC RT RUS RX SP SR TX VR VUS XRC'
  ).split(' ')
);

/** OBR-7 and OBR-8 as the report's effective time, and the time zone extensions they need. */
export interface ReportEffective {
  /** OBR-7, the start of the observation; the Observations' effectiveDateTime when OBX-14 is empty. */
  start: string | undefined;
  /** OBR-8, the end of the observation. */
  end: string | undefined;
  /** Assumed time zone extensions for effectiveDateTime or effectivePeriod. */
  extensions: Extension[];
  /** Assumed time zone extension for an Observation that takes OBR-7 as its effectiveDateTime. */
  observationExtensions: Extension[];
}

/**
 * Reads OBR-7 and OBR-8. The IG maps OBR-7 alone to effectiveDateTime, and OBR-7 with OBR-8 to
 * effectivePeriod start and end.
 * @throws Hl7ProcessingError (AE, ERR 102 at OBR-7 or OBR-8) when a value is not an HL7 date/time.
 */
export function readReportEffective(obr: Hl7Segment, facilityTimeZone: string): ReportEffective {
  const obr7 = textValue(obr, 7);
  const obr8 = textValue(obr, 8);
  const at = (field: number): { segment: string; segmentSequence: number; field: number } => ({
    segment: 'OBR',
    segmentSequence: obr.occurrence,
    field,
  });
  const start = dateTimeAt(obr7, at(7), facilityTimeZone);
  const end = dateTimeAt(obr8, at(8), facilityTimeZone);
  const extensions =
    end === undefined
      ? zoneExtensions(obr7, 'effectiveDateTime', facilityTimeZone)
      : [
          ...zoneExtensions(obr7, 'effectivePeriod.start', facilityTimeZone),
          ...zoneExtensions(obr8, 'effectivePeriod.end', facilityTimeZone),
        ];
  return {
    start,
    end,
    extensions,
    observationExtensions: zoneExtensions(obr7, 'effectiveDateTime', facilityTimeZone),
  };
}

function statusOf(obr: Hl7Segment): DiagnosticReport['status'] {
  const code = textValue(obr, 25).toUpperCase();
  const location = { segment: 'OBR', segmentSequence: obr.occurrence, field: 25 };
  if (code === '') {
    throw new Hl7ProcessingError({
      ackCode: 'AE',
      errorCode: ERROR_CODES.requiredFieldMissing,
      location,
      text: 'OBR-25 result status is required in ORU^R01 but empty; send a code of HL7 table 0123 such as F',
    });
  }
  const status = REPORT_STATUS[code];
  if (status === undefined) {
    throw new Hl7ProcessingError({
      ackCode: 'AE',
      errorCode: ERROR_CODES.tableValueNotFound,
      location,
      text: `OBR-25 result status ${code} cannot be mapped to a DiagnosticReport status; expected a code of HL7 table 0123 other than Y and Z`,
    });
  }
  return status;
}

/**
 * Reads an NDL field (`name^start^end^point of care...`, name being CNN
 * `id&family&given&middle&suffix&prefix&degree&source table&namespace&universal id&universal id type`)
 * as a logical reference to a Practitioner: its identifier and a display name, no resource of its own.
 */
function ndlReferences(obr: Hl7Segment, field: number): Reference<Practitioner>[] {
  const references: Reference<Practitioner>[] = [];
  for (let repetition = 0; repetition < repetitionCount(obr, field); repetition += 1) {
    const read = (subcomponent: number): string => textValue(obr, field, 1, subcomponent, repetition);
    const id = read(1);
    const display = [read(6), read(3), read(4), read(2), read(5)].filter((part) => part !== '').join(' ');
    if (id === '' && display === '') {
      continue;
    }
    const system = universalIdSystem(read(10), read(11));
    references.push({
      type: 'Practitioner',
      ...(id === '' ? {} : { identifier: system === undefined ? { value: id } : { system, value: id } }),
      ...(display === '' ? {} : { display }),
    });
  }
  return references;
}

function serviceSection(code: string): CodeableConcept {
  const upper = code.toUpperCase();
  return SERVICE_SECTIONS.has(upper)
    ? { coding: [{ system: SERVICE_SECTION_SYSTEM, code: upper }] }
    : { coding: [{ code }], text: code };
}

/** Placer and filler order numbers: ORC-2/ORC-3 when the order group has an ORC that values them, else OBR-2/OBR-3. */
function orderIdentifiers(group: OrderGroup): { placer?: Identifier; filler?: Identifier } {
  const placer =
    (group.orc === undefined ? undefined : entityIdentifier(group.orc, 2, 'PLAC')) ??
    entityIdentifier(group.obr, 2, 'PLAC');
  const filler =
    (group.orc === undefined ? undefined : entityIdentifier(group.orc, 3, 'FILL')) ??
    entityIdentifier(group.obr, 3, 'FILL');
  return { ...(placer === undefined ? {} : { placer }), ...(filler === undefined ? {} : { filler }) };
}

/** Inputs of {@link buildReport} besides the order group. */
export interface ReportContext {
  /** Value in HL7_RESULT_ID_SYSTEM, `{MSH-4}|{MSH-10}|{OBR set id}`. */
  identifierValue: string;
  subject: Reference<Patient>;
  effective: ReportEffective;
  results: Reference<Observation>[];
  facilityTimeZone: string;
}

/**
 * Maps one OBR (with its ORC and NTEs) to a DiagnosticReport, per the HL7 v2-to-FHIR IG's OBR to
 * DiagnosticReport map. It reads OBR-2/OBR-3 (or ORC-2/ORC-3) as identifiers and basedOn, OBR-4 as
 * code and OBR-7/OBR-8 as effective time. OBR-22 becomes issued, OBR-24 category, OBR-25 status,
 * OBR-32 resultsInterpreter, OBR-34 performer, and the NTEs become notes.
 * @throws Hl7ProcessingError (AE) when OBR-4 or OBR-25 is empty or invalid, or a date/time is malformed.
 */
export function buildReport(group: OrderGroup, context: ReportContext): DiagnosticReport {
  const obr = group.obr;
  const code = codeableConcept(obr, 4);
  if (code === undefined) {
    throw new Hl7ProcessingError({
      ackCode: 'AE',
      errorCode: ERROR_CODES.requiredFieldMissing,
      location: { segment: 'OBR', segmentSequence: obr.occurrence, field: 4 },
      text: 'OBR-4 universal service identifier is required but empty',
    });
  }
  const status = statusOf(obr);

  const issued = dateTimeAt(
    textValue(obr, 22),
    { segment: 'OBR', segmentSequence: obr.occurrence, field: 22 },
    context.facilityTimeZone
  );
  const { placer, filler } = orderIdentifiers(group);
  const order = placer ?? filler;
  const section = textValue(obr, 24);
  const interpreters = ndlReferences(obr, 32);
  const performers = ndlReferences(obr, 34);
  const notes = notesOf(group.notes);
  const { start, end, extensions } = context.effective;
  const extension: Extension[] = [
    ...extensions,
    ...notes.map((note) => ({ url: HL7V2_REPORT_NOTE_EXTENSION, valueAnnotation: note })),
  ];

  return {
    resourceType: 'DiagnosticReport',
    ...(extension.length === 0 ? {} : { extension }),
    identifier: [
      { system: HL7_RESULT_ID_SYSTEM, value: context.identifierValue },
      ...(placer === undefined ? [] : [placer]),
      ...(filler === undefined ? [] : [filler]),
    ],
    // The IG points basedOn at the ServiceRequest of the placer order; a logical reference names it by identifier.
    ...(order === undefined ? {} : { basedOn: [{ type: 'ServiceRequest', identifier: order }] }),
    status,
    ...(section === '' ? {} : { category: [serviceSection(section)] }),
    code,
    subject: context.subject,
    ...(start !== undefined && end === undefined ? { effectiveDateTime: start } : {}),
    ...(end === undefined ? {} : { effectivePeriod: { ...(start === undefined ? {} : { start }), end } }),
    // DiagnosticReport.issued is an instant, so a date without a time is left out.
    ...(issued !== undefined && issued.includes('T') ? { issued } : {}),
    ...(performers.length === 0 ? {} : { performer: performers }),
    ...(interpreters.length === 0 ? {} : { resultsInterpreter: interpreters }),
    ...(context.results.length === 0 ? {} : { result: context.results }),
  };
}
