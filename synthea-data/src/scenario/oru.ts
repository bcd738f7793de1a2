/**
 * Builds HL7 v2.5.1 ORU^R01 messages (HL7 v2.5.1 chapter 7, "Observation Reporting") for simulated
 * model results, one OBR and one numeric OBX per message.
 */
import type { AiModelDefinition } from '@monitormed/common';
import { HOSPITAL_MRN_SYSTEM } from './patients.js';
import type { PlannedResult } from './plan.js';

/** MSH-4 of every simulated message. */
export const SENDING_FACILITY = 'MONITORMED_DEMO';

/** MSH-5 and MSH-6: the monitoring system receiving the results. */
const RECEIVING_APPLICATION = 'MONITORMED';
const RECEIVING_FACILITY = 'MONITORMED';

/** Segment terminator of HL7 v2 (a carriage return). */
export const SEGMENT_SEPARATOR = '\r';

/** Order codes (OBR-4) of the two demo models, local codes because no standard code fits. */
const ORDER_CODES: Record<string, { code: string; display: string }> = {
  'sepsis-risk': { code: 'SEPSIS-SCREEN', display: 'Sepsis risk screening' },
  'cxr-pneumothorax': { code: 'CXR-PTX-TRIAGE', display: 'Chest X-ray pneumothorax triage' },
};

/**
 * Escapes text for an HL7 v2 field with the default delimiters `|^~\&` (HL7 v2.5.1 section 2.7):
 * the escape character first, then each delimiter, and line breaks as hexadecimal escapes.
 * @param text - Free text.
 * @returns Text safe to place inside one component.
 */
export function escapeHl7(text: string): string {
  return text
    .replaceAll('\\', '\\E\\')
    .replaceAll('|', '\\F\\')
    .replaceAll('^', '\\S\\')
    .replaceAll('&', '\\T\\')
    .replaceAll('~', '\\R\\')
    .replaceAll('\r', '\\X0D\\')
    .replaceAll('\n', '\\X0A\\');
}

/**
 * Formats an instant as an HL7 v2 DTM in UTC with an explicit offset, such as `20260306101500+0000`.
 * @param time - The instant.
 * @returns The DTM string.
 */
export function formatHl7Time(time: Date): string {
  const iso = time.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}+0000`;
}

/** Returns the order code of a model, or the model's output code for a model without one. */
export function orderCodeOf(model: AiModelDefinition): { code: string; display: string } {
  return ORDER_CODES[model.modelId] ?? { code: model.outputCode.code ?? model.modelId, display: model.name };
}

function segment(fields: string[]): string {
  return fields.join('|');
}

/**
 * Builds the ORU^R01 of one result.
 * @param model - The model that produced the result.
 * @param result - The planned result, with patient, time, probability and control id.
 * @param fillerOrderNumber - OBR-3, such as the accession number of the imaging study.
 * @returns The message with segments joined by carriage returns and no MLLP framing.
 */
export function buildOruR01(
  model: AiModelDefinition,
  result: PlannedResult,
  fillerOrderNumber?: string
): string {
  const time = formatHl7Time(result.time);
  const patient = result.patient;
  const order = orderCodeOf(model);
  const sendingApplication = model.match.sendingApplication ?? model.modelId.toUpperCase();

  const msh = segment([
    'MSH',
    '^~\\&',
    escapeHl7(sendingApplication),
    SENDING_FACILITY,
    RECEIVING_APPLICATION,
    RECEIVING_FACILITY,
    time,
    '',
    'ORU^R01^ORU_R01',
    escapeHl7(result.controlId),
    'P',
    '2.5.1',
  ]);

  // PID-3 is CX: ID ^ check digit ^ check digit scheme ^ assigning authority (HD: namespace & universal
  // id & universal id type) ^ identifier type code.
  const pid = segment([
    'PID',
    '1',
    '',
    `${escapeHl7(patient.mrn)}^^^Hospital&${HOSPITAL_MRN_SYSTEM}&URI^MR`,
    '',
    `${escapeHl7(patient.family)}^${escapeHl7(patient.givenNames)}`,
    '',
    patient.birthDate.replaceAll('-', ''),
    { male: 'M', female: 'F', other: 'O' }[patient.gender] ?? 'U',
  ]);

  // OBR-2 placer and OBR-3 filler order numbers, OBR-4 universal service id, OBR-7 observation time,
  // OBR-22 result status change time, OBR-25 result status (F = final).
  const obrFields = [
    'OBR',
    '1',
    escapeHl7(`${result.controlId}-P`),
    escapeHl7(fillerOrderNumber ?? `${result.controlId}-F`),
  ];
  obrFields.push(`${escapeHl7(order.code)}^${escapeHl7(order.display)}^L`, '', '', time);
  while (obrFields.length < 22) {
    obrFields.push('');
  }
  obrFields.push(time, '', '', 'F');
  const obr = segment(obrFields);

  // OBX-2 NM, OBX-3 the model's output code, OBX-5 the probability, OBX-6 unit 1 (UCUM unity),
  // OBX-11 status F, OBX-14 date/time of the observation.
  const output = model.outputCode;
  const obx = segment([
    'OBX',
    '1',
    'NM',
    `${escapeHl7(output.code ?? '')}^${escapeHl7(output.display ?? '')}^L`,
    '',
    result.probability.toFixed(4),
    '1',
    '',
    '',
    '',
    '',
    'F',
    '',
    '',
    time,
  ]);

  return [msh, pid, obr, obx].join(SEGMENT_SEPARATOR) + SEGMENT_SEPARATOR;
}
