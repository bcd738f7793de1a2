/**
 * Population subgroups of an AI result: age band, administrative sex, race and ethnicity (US Core
 * extensions, as Synthea writes them), site and scanner manufacturer. They are read from FHIR once per
 * result and kept on the AI result document (`subgroups`), so every metric can be split by them.
 */
import type { Device, Extension, ImagingStudy, Observation, Patient } from '@medplum/fhirtypes';
import { COLLECTIONS, HL7_RESULT_ID_SYSTEM, type FhirClient } from '@monitormed/common';
import type { Db } from 'mongodb';
import { readOptional } from '../fhir/gateway.js';

/** US Core race extension (https://hl7.org/fhir/us/core/StructureDefinition-us-core-race.html). */
export const US_CORE_RACE = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race';

/** US Core ethnicity extension (https://hl7.org/fhir/us/core/StructureDefinition-us-core-ethnicity.html). */
export const US_CORE_ETHNICITY = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity';

/** Subgroup dimensions and their values, such as `{ sex: 'female', age: '65-79' }`. */
export type SubgroupValues = Partial<
  Record<'age' | 'sex' | 'race' | 'ethnicity' | 'site' | 'scanner', string>
>;

/** Default age band lower bounds in years: <18, 18-39, 40-64, 65-79, 80+. */
export const DEFAULT_AGE_BANDS = [18, 40, 65, 80] as const;

/**
 * Names the age band of `ageYears` for ascending lower bounds.
 * @returns A label such as `<18`, `40-64` or `80+`.
 */
export function ageBand(ageYears: number, bounds: readonly number[] = DEFAULT_AGE_BANDS): string {
  const first = bounds[0];
  if (first === undefined || ageYears < first) {
    return first === undefined ? 'all' : `<${String(first)}`;
  }
  for (let index = 0; index < bounds.length; index += 1) {
    const lower = bounds[index] ?? 0;
    const next = bounds[index + 1];
    if (next === undefined) {
      return `${String(lower)}+`;
    }
    if (ageYears < next) {
      return `${String(lower)}-${String(next - 1)}`;
    }
  }
  return 'all';
}

/** Completed years between a FHIR birthDate (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`) and `at`, in UTC. */
export function ageInYears(birthDate: string, at: Date): number | undefined {
  const match = /^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?/.exec(birthDate);
  if (match === null) {
    return undefined;
  }
  // A partial date counts from its first day, so the age may be up to one year too high.
  const year = Number(match[1]);
  const month = Number(match[2] ?? '1');
  const day = Number(match[3] ?? '1');
  let age = at.getUTCFullYear() - year;
  if (at.getUTCMonth() + 1 < month || (at.getUTCMonth() + 1 === month && at.getUTCDate() < day)) {
    age -= 1;
  }
  return age;
}

/** Returns the `ombCategory` code of a US Core race or ethnicity extension. */
function ombCategory(extensions: readonly Extension[] | undefined, url: string): string | undefined {
  const extension = extensions?.find((candidate) => candidate.url === url);
  return extension?.extension?.find((part) => part.url === 'ombCategory')?.valueCoding?.code;
}

/**
 * Derives the patient's subgroups: age band at the result time, sex, race and ethnicity.
 * @param patient - The result's Patient.
 * @param effective - Observation.effectiveDateTime.
 * @param bounds - Age band lower bounds.
 */
export function patientSubgroups(
  patient: Patient,
  effective: Date,
  bounds: readonly number[] = DEFAULT_AGE_BANDS
): SubgroupValues {
  const values: SubgroupValues = {};
  const age = patient.birthDate === undefined ? undefined : ageInYears(patient.birthDate, effective);
  if (age !== undefined) {
    values.age = ageBand(age, bounds);
  }
  if (patient.gender !== undefined) {
    values.sex = patient.gender;
  }
  const race = ombCategory(patient.extension, US_CORE_RACE);
  if (race !== undefined) {
    values.race = race;
  }
  const ethnicity = ombCategory(patient.extension, US_CORE_ETHNICITY);
  if (ethnicity !== undefined) {
    values.ethnicity = ethnicity;
  }
  return values;
}

/**
 * Names the site of a result: the performing Organization, else the sending facility (MSH-4) of an
 * HL7-sourced result, the first part of its HL7_RESULT_ID_SYSTEM identifier.
 */
export function siteOf(observation: Observation): string | undefined {
  const organization = observation.performer?.find((performer) =>
    performer.reference?.startsWith('Organization/')
  );
  if (organization?.reference !== undefined) {
    return organization.reference;
  }
  const hl7 = observation.identifier?.find((identifier) => identifier.system === HL7_RESULT_ID_SYSTEM);
  const facility = hl7?.value?.split('|')[0];
  return facility === undefined || facility === '' ? undefined : facility;
}

/**
 * Reads the scanner manufacturer of an imaging result: the ImagingStudy in Observation.derivedFrom, the
 * Device performing its first series that has one, and that Device's manufacturer.
 */
export async function scannerManufacturer(
  client: FhirClient,
  observation: Observation
): Promise<string | undefined> {
  const studyReference = observation.derivedFrom?.find((reference) =>
    reference.reference?.startsWith('ImagingStudy/')
  );
  const studyId = studyReference?.reference?.split('/')[1];
  if (studyId === undefined) {
    return undefined;
  }
  const study = await readOptional<ImagingStudy>(client, 'ImagingStudy', studyId);
  for (const series of study?.series ?? []) {
    const actor = series.performer?.find((performer) => performer.actor.reference?.startsWith('Device/'));
    const deviceId = actor?.actor.reference?.split('/')[1];
    if (deviceId !== undefined) {
      const device = await readOptional<Device>(client, 'Device', deviceId);
      if (device?.manufacturer !== undefined) {
        return device.manufacturer;
      }
    }
  }
  return undefined;
}

/**
 * Reads every subgroup of a result from FHIR: its Patient, and its ImagingStudy for an imaging model.
 * @param client - FHIR client.
 * @param observation - The AI result Observation.
 * @param bounds - Age band lower bounds.
 * @param patientCache - Patients already read, by id, shared across the results of one job.
 */
export async function readResultSubgroups(
  client: FhirClient,
  observation: Observation,
  bounds: readonly number[] = DEFAULT_AGE_BANDS,
  patientCache = new Map<string, Patient | undefined>()
): Promise<SubgroupValues> {
  const patientId =
    observation.subject?.reference?.startsWith('Patient/') === true
      ? observation.subject.reference.split('/')[1]
      : undefined;
  let patient: Patient | undefined;
  if (patientId !== undefined) {
    // Results of one patient share one read.
    if (!patientCache.has(patientId)) {
      patientCache.set(patientId, await readOptional<Patient>(client, 'Patient', patientId));
    }
    patient = patientCache.get(patientId);
  }
  const effective =
    observation.effectiveDateTime === undefined ? new Date() : new Date(observation.effectiveDateTime);

  const values: SubgroupValues = patient === undefined ? {} : patientSubgroups(patient, effective, bounds);
  const site = siteOf(observation);
  if (site !== undefined) {
    values.site = site;
  }
  const scanner = await scannerManufacturer(client, observation);
  if (scanner !== undefined) {
    values.scanner = scanner;
  }
  return values;
}

/**
 * Lists the subgroup keys of a result: `all` and `{dimension}:{value}` for each known dimension.
 * @returns Keys such as `['all', 'sex:female', 'age:65-79']`.
 */
export function subgroupKeys(values: SubgroupValues | undefined): string[] {
  const keys = ['all'];
  for (const [dimension, value] of Object.entries(values ?? {})) {
    keys.push(`${dimension}:${value}`);
  }
  return keys;
}

/** Stores the subgroups on the AI result document (field `subgroups`). */
export async function storeResultSubgroups(
  db: Db,
  observationId: string,
  values: SubgroupValues
): Promise<void> {
  // Results are keyed by `_id`, which FerretDB looks up by its primary key. A document stored before that
  // has an ObjectId `_id`, and the second update finds it by observationId.
  const results = db.collection<{ _id: string }>(COLLECTIONS.aiResults);
  const updated = await results.updateOne({ _id: observationId }, { $set: { subgroups: values } });
  if (updated.matchedCount === 0) {
    await db.collection(COLLECTIONS.aiResults).updateOne({ observationId }, { $set: { subgroups: values } });
  }
}
