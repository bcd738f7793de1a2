/**
 * Reads the scenario's patients and the sepsis model's inputs from the FHIR server.
 */
import type { Bundle, HumanName, Observation, Patient } from '@medplum/fhirtypes';
import { FhirHttpError } from '../fhir-http-error.js';
import { describeErrorBody, fhirRequest, fhirRequestOk } from '../fhir-http.js';
import { ScenarioError } from './scenario-error.js';
import {
  BLOOD_PRESSURE_PANEL_CODES,
  SEPSIS_INPUTS,
  populationDefaults,
  type SepsisInputName,
  type SepsisInputs,
} from './sepsis-model.js';

/** Identifier system of the medical record number Synthea gives every Patient. */
export const HOSPITAL_MRN_SYSTEM = 'http://hospital.smarthealthit.org';

const LOINC = 'http://loinc.org';

/** How many Observations of the input codes are read per patient, newest first. */
const OBSERVATIONS_PER_PATIENT = 500;

/** A patient as the simulator needs it. */
export interface ScenarioPatient {
  /** Server id of the Patient. */
  id: string;
  /** Medical record number (identifier in {@link HOSPITAL_MRN_SYSTEM}), sent in PID-3. */
  mrn: string;
  family: string;
  /** Given names joined by spaces. */
  givenNames: string;
  /** `YYYY-MM-DD` or empty. */
  birthDate: string;
  gender: string;
  /** Sepsis model inputs, population defaults where the patient had no value. */
  inputs: SepsisInputs;
  /** Inputs that fell back to the population default. */
  missingInputs: SepsisInputName[];
}

function officialName(names: HumanName[] | undefined): { family: string; givenNames: string } {
  const name = names?.find((n) => n.use === 'official') ?? names?.[0];
  return { family: name?.family ?? '', givenNames: name?.given?.join(' ') ?? '' };
}

/**
 * Converts a Patient into a scenario patient without inputs, or undefined when it has no MRN.
 * @param patient - A Patient read from the server.
 * @returns The patient with population-default inputs.
 */
export function toScenarioPatient(patient: Patient): ScenarioPatient | undefined {
  const mrn = patient.identifier?.find((i) => i.system === HOSPITAL_MRN_SYSTEM)?.value;
  if (patient.id === undefined || mrn === undefined) {
    return undefined;
  }
  return {
    id: patient.id,
    mrn,
    ...officialName(patient.name),
    birthDate: patient.birthDate ?? '',
    gender: patient.gender ?? '',
    inputs: populationDefaults(),
    missingInputs: SEPSIS_INPUTS.map((input) => input.name),
  };
}

async function searchAll<T>(
  baseUrl: string,
  firstPath: string,
  limit: number,
  timeoutMs: number
): Promise<T[]> {
  const found: T[] = [];
  let path: string | undefined = firstPath;
  while (path !== undefined && found.length < limit) {
    const bundle = (await fhirRequestOk(baseUrl, { method: 'GET', path, timeoutMs })) as Bundle;
    for (const entry of bundle.entry ?? []) {
      if (entry.search?.mode !== 'include' && entry.resource !== undefined) {
        found.push(entry.resource as T);
      }
    }
    path = bundle.link?.find((l) => l.relation === 'next')?.url;
  }
  return found.slice(0, limit);
}

/**
 * Finds the patients to simulate: the given ids, or every Patient with a hospital MRN in id order.
 * Explicit ids are read one by one, so that a wrong id gets its own error.
 * @param baseUrl - FHIR base URL.
 * @param options - Explicit ids or a maximum count, and the request timeout.
 * @returns Patients with an MRN, inputs not yet read.
 * @throws ScenarioError when an explicit id does not exist; FhirHttpError when the server fails.
 */
export async function findPatients(
  baseUrl: string,
  options: { patientIds?: string[]; limit: number; timeoutMs: number }
): Promise<ScenarioPatient[]> {
  let patients: Patient[];
  if (options.patientIds !== undefined) {
    patients = [];
    for (const id of [...new Set(options.patientIds)].sort().slice(0, options.limit)) {
      const response = await fhirRequest(baseUrl, {
        method: 'GET',
        path: `Patient/${encodeURIComponent(id)}`,
        timeoutMs: options.timeoutMs,
      });
      if (response.status === 404 || response.status === 410) {
        throw new ScenarioError(`Patient/${id} was not found at ${baseUrl}; check the --patients ids.`);
      }
      if (response.status !== 200) {
        throw new FhirHttpError(
          `GET Patient/${id} failed with HTTP ${String(response.status)}: ${describeErrorBody(response.body)}`,
          response.status
        );
      }
      patients.push(response.body as Patient);
    }
  } else {
    const query = `Patient?identifier=${encodeURIComponent(`${HOSPITAL_MRN_SYSTEM}|`)}&_sort=_id&_count=200`;
    patients = await searchAll<Patient>(baseUrl, query, options.limit, options.timeoutMs);
  }
  return patients.map(toScenarioPatient).filter((p): p is ScenarioPatient => p !== undefined);
}

function codesOf(observation: Observation): string[] {
  return (observation.code.coding ?? []).filter((c) => c.system === LOINC).map((c) => c.code ?? '');
}

/**
 * Picks each input's newest value from Observations sorted newest first.
 * @param observations - The patient's Observations of the input codes, newest first.
 * @returns The inputs found; absent names had no value.
 */
export function pickInputs(observations: Observation[]): Partial<SepsisInputs> {
  const found: Partial<SepsisInputs> = {};
  for (const observation of observations) {
    const codes = codesOf(observation);
    for (const input of SEPSIS_INPUTS) {
      if (found[input.name] !== undefined) {
        continue;
      }
      const direct = observation.valueQuantity?.value;
      if (direct !== undefined && input.codes.some((c) => codes.includes(c))) {
        found[input.name] = direct;
        continue;
      }
      if (input.componentCodes === undefined || !BLOOD_PRESSURE_PANEL_CODES.some((c) => codes.includes(c))) {
        continue;
      }
      const component = observation.component?.find((comp) =>
        (comp.code.coding ?? []).some(
          (c) => c.system === LOINC && input.componentCodes?.includes(c.code ?? '')
        )
      );
      if (component?.valueQuantity?.value !== undefined) {
        found[input.name] = component.valueQuantity.value;
      }
    }
  }
  return found;
}

/**
 * Reads a patient's newest vital signs and laboratory results and fills in the sepsis inputs.
 * @param baseUrl - FHIR base URL.
 * @param patient - The patient; its `inputs` and `missingInputs` are replaced.
 * @param timeoutMs - Request timeout.
 */
export async function readInputs(
  baseUrl: string,
  patient: ScenarioPatient,
  timeoutMs: number
): Promise<void> {
  const codes = [...new Set([...SEPSIS_INPUTS.flatMap((i) => i.codes), ...BLOOD_PRESSURE_PANEL_CODES])];
  const codeParam = codes.map((c) => encodeURIComponent(`${LOINC}|${c}`)).join(',');
  const path =
    `Observation?subject=${encodeURIComponent(`Patient/${patient.id}`)}&code=${codeParam}` +
    `&_sort=-date&_count=${String(OBSERVATIONS_PER_PATIENT)}`;
  const bundle = (await fhirRequestOk(baseUrl, { method: 'GET', path, timeoutMs })) as Bundle<Observation>;
  const found = pickInputs(
    (bundle.entry ?? []).flatMap((e) => (e.resource === undefined ? [] : [e.resource]))
  );

  const defaults = populationDefaults();
  patient.missingInputs = [];
  for (const input of SEPSIS_INPUTS) {
    const value = found[input.name];
    if (value === undefined) {
      patient.missingInputs.push(input.name);
    }
    patient.inputs[input.name] = value ?? defaults[input.name];
  }
}
