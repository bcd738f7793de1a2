/**
 * Authorization decisions of the FHIR proxy from a verified token's SMART scopes. Enforced:
 * - the permission letter per interaction, for the resource type or `*`;
 * - `patient/` scopes: searches on Patient-compartment types get the token's patient added as a
 *   compartment parameter, and every resource read or returned must be in that compartment;
 * - granular scopes (`?param=value`): their parameters are added to searches, and a read must match
 *   them, which the FHIR server checks with `_id` plus the parameters. They never grant writes.
 */
import { getSearchParameter } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { findGrants, suggestScope, widestGrant, type Grant, type Permission } from '../auth/scopes.js';
import type { AccessToken } from '../auth/token-verifier.js';
import { compartmentSearchParams, isCompartmentType, isInPatientCompartment } from './compartment.js';
import { ForbiddenError } from './forbidden-error.js';

/**
 * Finds the grants for an interaction.
 * @throws ForbiddenError naming the scope that would allow it.
 */
export function requireGrants(token: AccessToken, resourceType: string, permission: Permission): Grant[] {
  const grants = findGrants(token.scopes, resourceType, permission, token.patientId);
  if (grants.length === 0) {
    const hint =
      token.patientId === undefined && token.scopes.some((scope) => scope.context === 'patient')
        ? ' The token has patient/ scopes but no patient claim.'
        : '';
    throw new ForbiddenError(
      `The token's scopes do not allow this ${permissionName(permission)} of ${resourceType}; it needs a scope such as ${suggestScope(resourceType, permission, token.patientId)}.${hint}`
    );
  }
  return grants;
}

/** Tells whether a grant limits nothing. */
export function isUnlimited(grant: Grant | undefined): boolean {
  return grant !== undefined && grant.patientId === undefined && grant.query === undefined;
}

function permissionName(permission: Permission): string {
  return { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' }[permission];
}

function baseName(key: string): string {
  return key.split(':')[0] ?? key;
}

function patientValue(value: string): string {
  return value.replace(/^.*Patient\//, '');
}

/** Returns the parameter used to limit a search on `resourceType` to one patient. */
function patientParam(resourceType: string): string | undefined {
  const params = compartmentSearchParams(resourceType);
  if (params === undefined) {
    return undefined;
  }
  if (resourceType === 'Patient') {
    return '_id';
  }
  return getSearchParameter(resourceType, 'patient') !== undefined ? 'patient' : params[0];
}

function satisfies(grant: Grant, resourceType: string, params: URLSearchParams): boolean {
  if (grant.patientId !== undefined && isCompartmentType(resourceType)) {
    const names =
      resourceType === 'Patient' ? ['_id'] : [...(compartmentSearchParams(resourceType) ?? []), 'patient'];
    // Only the plain parameter or its `:Patient` type modifier limits a search to one patient, because
    // modifiers such as `:not` or `:missing` widen it.
    const limitingKeys = new Set(names.flatMap((name) => [name, `${name}:Patient`]));
    const patientParams = [...params].filter(([key]) => names.includes(baseName(key)));
    if (patientParams.length === 0) {
      return false;
    }
    if (
      patientParams.some(([key, value]) => !limitingKeys.has(key) || patientValue(value) !== grant.patientId)
    ) {
      return false;
    }
  }
  for (const [key, value] of grant.query ?? []) {
    if (!params.getAll(key).includes(value)) {
      return false;
    }
  }
  return true;
}

function applyGrant(grant: Grant, resourceType: string, params: URLSearchParams): URLSearchParams {
  const constrained = new URLSearchParams(params);
  const param = grant.patientId === undefined ? undefined : patientParam(resourceType);
  if (param !== undefined && grant.patientId !== undefined) {
    constrained.append(param, param === '_id' ? grant.patientId : `Patient/${grant.patientId}`);
  }
  for (const [key, value] of grant.query ?? []) {
    constrained.append(key, value);
  }
  return constrained;
}

/**
 * Limits a type search to what the token may see. Parameters already matching a grant are kept as they
 * are; otherwise the widest grant's patient and query parameters are added. Added parameters combine
 * with the client's by AND, so a client asking for another patient gets an empty result.
 * @param grants - Grants for `s` on the type, from {@link requireGrants}.
 * @returns The parameters to send to the FHIR server.
 */
export function constrainSearch(
  grants: Grant[],
  resourceType: string,
  params: URLSearchParams
): URLSearchParams {
  const widest = widestGrant(grants);
  if (widest === undefined || isUnlimited(widest)) {
    return params;
  }
  if (grants.some((grant) => satisfies(grant, resourceType, params))) {
    return params;
  }

  const withoutQuery = grants.find((grant) => grant.query === undefined);
  if (withoutQuery !== undefined || grants.length === 1) {
    return applyGrant(withoutQuery ?? widest, resourceType, params);
  }
  // NOTE: several granular scopes are a union, which one FHIR search cannot express; the client chooses.
  throw new ForbiddenError(
    `The token allows ${resourceType} searches only with the parameters of one of its scopes (${grants.map((grant) => grant.scope.text).join(', ')}); add them to the search.`
  );
}

/**
 * Tells whether a resource the FHIR server returned may be shown, with the grants of its type for
 * read or search. A match of a search that {@link constrainSearch} limited (`constrainedMatch`) needs
 * only a grant for its type, because the FHIR server applied the patient and granular parameters. Any
 * other resource must be in the patient's compartment, and granular grants do not count for it.
 */
export function mayShow(token: AccessToken, resource: Resource, constrainedMatch: boolean): boolean {
  if (resource.resourceType === 'OperationOutcome') {
    return true;
  }
  const grants = [
    ...findGrants(token.scopes, resource.resourceType, 'r', token.patientId),
    ...findGrants(token.scopes, resource.resourceType, 's', token.patientId),
  ];
  if (constrainedMatch) {
    return grants.length > 0;
  }
  return grants.some((grant) => {
    if (grant.query !== undefined) {
      return false;
    }
    if (grant.patientId === undefined || !isCompartmentType(resource.resourceType)) {
      return true;
    }
    return isInPatientCompartment(resource, grant.patientId);
  });
}

/**
 * Checks a resource that a token wants to write (create, update body, or the current version before an
 * update, patch or delete) against the grants for that write.
 * @throws ForbiddenError when a patient-limited token writes outside its patient's compartment.
 */
export function requireWritable(grants: Grant[], resource: Resource): void {
  if (grants.some((grant) => grant.patientId === undefined || !isCompartmentType(resource.resourceType))) {
    return;
  }
  const patientId = grants[0]?.patientId;
  if (patientId !== undefined && !isInPatientCompartment(resource, patientId)) {
    throw new ForbiddenError(
      `The token may write ${resource.resourceType} only in the compartment of Patient/${patientId}; this resource does not reference that patient.`
    );
  }
}

/** Builds the 403 message for a read outside what the token's grants allow. */
export function readOutsideScope(token: AccessToken, resourceType: string, id: string): ForbiddenError {
  const limit =
    token.patientId === undefined
      ? "the token's granular scopes"
      : `the compartment of Patient/${token.patientId}`;
  return new ForbiddenError(
    `${resourceType}/${id} is outside ${limit}; a scope such as user/${resourceType}.r would allow this read.`
  );
}
