/**
 * FHIR resources the simulator writes: the model and scanner Devices, one ImagingStudy per chest X-ray,
 * and the Observations an imaging vendor writes straight to the server. Every write is a conditional
 * create or a PUT with a deterministic id, so re-running a scenario with the same seed adds nothing.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Bundle, Device, ImagingStudy, Observation, Provenance } from '@medplum/fhirtypes';
import {
  AIAST,
  AI_CONFIDENCE_EXTENSION,
  AI_AGENT_ROLE,
  MONITORMED_BASE,
  PROVENANCE_AUTHOR,
  buildModelDeviceEntries,
  type AiModelDefinition,
} from '@monitormed/common';
import { FhirHttpError } from '../fhir-http-error.js';
import { fhirRequestOk } from '../fhir-http.js';
import { SCANNER_ID_SYSTEM, type Scanner } from './cxr-model.js';
import type { PlannedResult } from './plan.js';

/** Identifier system of the results the imaging vendor writes over FHIR. */
export const VENDOR_RESULT_ID_SYSTEM = `${MONITORMED_BASE}/sid/vendor-result`;

/** Identifier system of the demo accession numbers. */
export const ACCESSION_ID_SYSTEM = `${MONITORMED_BASE}/sid/demo-accession`;

/** DICOM Study Instance UIDs are identifiers in this system, as `urn:oid:<uid>` (R4 ImagingStudy). */
const DICOM_UID_SYSTEM = 'urn:dicom:uid';

const DICOM_DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const SNOMED = 'http://snomed.info/sct';
const INTERPRETATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';

/** Resource id and accession number of a created ImagingStudy. */
export interface CreatedStudy {
  id: string;
  accession: string;
}

function idFromLocation(location: string | undefined, resourceType: string): string {
  const match = location === undefined ? null : new RegExp(`${resourceType}/([^/]+)`).exec(location);
  if (match?.[1] === undefined) {
    throw new FhirHttpError(`The server did not return the location of the ${resourceType}.`, 0);
  }
  return match[1];
}

/**
 * Creates a resource unless one matches the query, and returns the id of the created or matching one.
 * A single-entry transaction returns the id in both cases (FHIR R4 conditional create).
 */
async function conditionalCreate(
  baseUrl: string,
  resource: Device | ImagingStudy,
  query: string,
  timeoutMs: number
): Promise<string> {
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [{ resource, request: { method: 'POST', url: resource.resourceType, ifNoneExist: query } }],
  };
  return firstEntryId(await postTransaction(baseUrl, bundle, timeoutMs), resource.resourceType);
}

/**
 * Registers a model's AI Device, with its model card DocumentReference when the catalog has one, unless
 * they exist.
 * @returns The Device id.
 */
export async function registerModelDevice(
  baseUrl: string,
  model: AiModelDefinition,
  timeoutMs: number
): Promise<string> {
  const { entries } = buildModelDeviceEntries(model, () => `urn:uuid:${randomUUID()}`);
  const bundle: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: entries };
  const response = await postTransaction(baseUrl, bundle, timeoutMs);
  // The Device entry is the last one, and response entries follow the request order.
  return idFromLocation(response.entry?.at(-1)?.response?.location, 'Device');
}

/**
 * Registers a DX scanner as a Device unless it exists.
 * @returns The Device id.
 */
export function registerScanner(baseUrl: string, scanner: Scanner, timeoutMs: number): Promise<string> {
  const device: Device = {
    resourceType: 'Device',
    identifier: [{ system: SCANNER_ID_SYSTEM, value: scanner.id }],
    status: 'active',
    manufacturer: scanner.manufacturer,
    deviceName: [{ name: scanner.modelName, type: 'model-name' }],
    type: { coding: [{ system: DICOM_DCM, code: 'DX', display: 'Digital Radiography' }] },
  };
  const query = `identifier=${encodeURIComponent(SCANNER_ID_SYSTEM)}|${encodeURIComponent(scanner.id)}`;
  return conditionalCreate(baseUrl, device, query, timeoutMs);
}

/** Builds a DICOM UID under the 2.25 root (a UUID as a decimal integer, DICOM PS3.5 B.2) from a label. */
export function dicomUid(label: string): string {
  const hex = createHash('sha256').update(label).digest('hex').slice(0, 32);
  return `2.25.${BigInt(`0x${hex}`).toString(10)}`;
}

/**
 * Creates the ImagingStudy of a chest X-ray unless it exists: one DX series of the chest, performed by
 * the scanner Device, whose manufacturer is therefore visible from the study.
 * @param baseUrl - FHIR base URL.
 * @param result - The imaging result the study belongs to; its control id names the study.
 * @param scannerDeviceId - Device id of the scanner.
 * @param timeoutMs - Request timeout.
 * @returns The study id and accession number.
 */
export async function createImagingStudy(
  baseUrl: string,
  result: PlannedResult,
  scannerDeviceId: string,
  timeoutMs: number
): Promise<CreatedStudy> {
  const studyUid = dicomUid(`study|${result.controlId}`);
  const accession = `ACC${result.controlId.replaceAll('-', '')}`;
  // The study was acquired a few minutes before the model scored it.
  const started = new Date(result.time.getTime() - 5 * 60_000).toISOString();
  const scanner = result.scanner;

  const study: ImagingStudy = {
    resourceType: 'ImagingStudy',
    identifier: [
      { system: DICOM_UID_SYSTEM, value: `urn:oid:${studyUid}` },
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'ACSN' }] },
        system: ACCESSION_ID_SYSTEM,
        value: accession,
      },
    ],
    status: 'available',
    subject: { reference: `Patient/${result.patient.id}` },
    started,
    modality: [{ system: DICOM_DCM, code: 'DX', display: 'Digital Radiography' }],
    numberOfSeries: 1,
    numberOfInstances: 1,
    description: 'Chest X-ray',
    series: [
      {
        uid: dicomUid(`series|${result.controlId}`),
        number: 1,
        modality: { system: DICOM_DCM, code: 'DX', display: 'Digital Radiography' },
        bodySite: { system: SNOMED, code: '51185008', display: 'Thoracic structure' },
        numberOfInstances: 1,
        started,
        performer: [
          {
            function: {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
                  code: 'PRF',
                  display: 'performer',
                },
              ],
            },
            actor: {
              reference: `Device/${scannerDeviceId}`,
              display: scanner === undefined ? undefined : `${scanner.manufacturer} ${scanner.modelName}`,
            },
          },
        ],
      },
    ],
  };
  const query = `identifier=${encodeURIComponent(DICOM_UID_SYSTEM)}|${encodeURIComponent(`urn:oid:${studyUid}`)}`;
  const id = await conditionalCreate(baseUrl, study, query, timeoutMs);
  return { id, accession };
}

/**
 * Builds the Observation an imaging vendor writes for one result, following the MonitorMed data
 * contract (AIAST label, model Device, AIconfidence, POS/NEG interpretation, vendor identifier).
 */
export function buildVendorObservation(
  model: AiModelDefinition,
  result: PlannedResult,
  modelDeviceId: string,
  studyId: string | undefined
): Observation {
  const p = result.probability;
  const positive = p >= model.positiveThreshold;
  return {
    resourceType: 'Observation',
    meta: { security: [AIAST] },
    identifier: [{ system: VENDOR_RESULT_ID_SYSTEM, value: result.controlId }],
    status: 'final',
    code: { coding: [model.outputCode], text: model.outputCode.display },
    subject: { reference: `Patient/${result.patient.id}` },
    effectiveDateTime: result.time.toISOString(),
    valueQuantity: { value: p, unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
    device: { reference: `Device/${modelDeviceId}` },
    interpretation: [
      {
        coding: [
          positive
            ? { system: INTERPRETATION_SYSTEM, code: 'POS', display: 'Positive' }
            : { system: INTERPRETATION_SYSTEM, code: 'NEG', display: 'Negative' },
        ],
      },
    ],
    extension: [{ url: AI_CONFIDENCE_EXTENSION, valueDecimal: Math.max(p, 1 - p) }],
    ...(studyId === undefined ? {} : { derivedFrom: [{ reference: `ImagingStudy/${studyId}` }] }),
  };
}

/**
 * Writes a vendor Observation and its AI Provenance in one transaction. The Observation is a
 * conditional create on its vendor identifier and the Provenance a PUT with an id derived from it, so
 * a repeated write changes nothing.
 * @returns The Observation id.
 */
export async function writeVendorObservation(
  baseUrl: string,
  observation: Observation,
  modelDeviceId: string,
  timeoutMs: number
): Promise<string> {
  const vendorId = observation.identifier?.[0]?.value ?? '';
  const observationUrl = `urn:uuid:${createHash('sha256')
    .update(`obs|${vendorId}`)
    .digest('hex')
    .slice(0, 32)
    .replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-')}`;
  const provenanceId = `mm-vendor-${createHash('sha256').update(vendorId).digest('hex').slice(0, 40)}`;
  const recorded = observation.effectiveDateTime ?? new Date().toISOString();

  const provenance: Provenance = {
    resourceType: 'Provenance',
    id: provenanceId,
    meta: { security: [AIAST] },
    target: [{ reference: observationUrl }],
    occurredDateTime: recorded,
    recorded,
    reason: [{ coding: [AIAST] }],
    agent: [
      {
        type: { coding: [PROVENANCE_AUTHOR] },
        role: [{ coding: [AI_AGENT_ROLE] }],
        who: { reference: `Device/${modelDeviceId}` },
      },
    ],
  };
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: observationUrl,
        resource: observation,
        request: {
          method: 'POST',
          url: 'Observation',
          ifNoneExist: `identifier=${encodeURIComponent(VENDOR_RESULT_ID_SYSTEM)}|${encodeURIComponent(vendorId)}`,
        },
      },
      { resource: provenance, request: { method: 'PUT', url: `Provenance/${provenanceId}` } },
    ],
  };
  return firstEntryId(await postTransaction(baseUrl, bundle, timeoutMs), 'Observation');
}

/** Posts a transaction Bundle and returns the server's response Bundle. */
async function postTransaction(baseUrl: string, bundle: Bundle, timeoutMs: number): Promise<Bundle> {
  return (await fhirRequestOk(baseUrl, {
    method: 'POST',
    path: '',
    body: bundle,
    headers: { prefer: 'return=minimal' },
    timeoutMs,
  })) as Bundle;
}

/** Reads the id of the first entry's resource from the transaction response's Location. */
function firstEntryId(response: Bundle, resourceType: string): string {
  return idFromLocation(response.entry?.[0]?.response?.location, resourceType);
}
