/**
 * SMART App Launch 2.2 clinical scopes (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
 * `<context>/<resource type>.<permissions>[?<query>]` with context `patient`, `user` or `system`, resource type
 * or `*`, and v2 permission letters in the order `c r u d s`. The v1 suffixes `.read`, `.write` and `.*` are
 * read as their v2 equivalents `.rs`, `.cud` and `.cruds`.
 */

/** A SMART v2 permission letter: create, read, update, delete, search. */
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

/** Launch context of a clinical scope. */
export type ScopeContext = 'patient' | 'user' | 'system';

/** One parsed clinical scope. */
export interface ClinicalScope {
  /** The scope as written in the token. */
  text: string;
  context: ScopeContext;
  /** A FHIR resource type, or `*` for every type. */
  resourceType: string;
  permissions: ReadonlySet<Permission>;
  /**
   * Granular search parameters after `?`, such as `category=laboratory`. They narrow read and search
   * only: a scope with a query never grants create, update or delete here, because checking a resource
   * body against arbitrary search parameters needs the FHIR server's search engine.
   */
  query: URLSearchParams | undefined;
}

const V2_ORDER: readonly Permission[] = ['c', 'r', 'u', 'd', 's'];

const V1_PERMISSIONS: Readonly<Record<string, readonly Permission[]>> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};

const CLINICAL_SCOPE = /^(patient|user|system)\/([A-Za-z]+|\*)\.([A-Za-z*]+)(?:\?(.*))?$/;

/**
 * Parses a letter string such as `rs` or `cruds`. SMART v2 requires the letters in `c r u d s` order
 * without repeats, so anything else is not a valid v2 permission string.
 */
function parseV2Letters(letters: string): Permission[] | undefined {
  const permissions: Permission[] = [];
  let position = 0;
  for (const letter of letters) {
    const index = V2_ORDER.indexOf(letter as Permission, position);
    if (index < 0) {
      return undefined;
    }
    permissions.push(letter as Permission);
    position = index + 1;
  }
  return permissions.length === 0 ? undefined : permissions;
}

/**
 * Parses one scope. Scopes that are not clinical scopes (`openid`, `fhirUser`, `launch/patient`,
 * `offline_access`) and malformed clinical scopes return undefined, so they grant nothing.
 * @param text - One space-separated element of the token's `scope` claim.
 * @returns The parsed scope, or undefined.
 */
export function parseScope(text: string): ClinicalScope | undefined {
  const match = CLINICAL_SCOPE.exec(text);
  if (match === null) {
    return undefined;
  }
  const [, context, resourceType, suffix, query] = match;
  if (context === undefined || resourceType === undefined || suffix === undefined) {
    return undefined;
  }

  const permissions = V1_PERMISSIONS[suffix] ?? parseV2Letters(suffix);
  if (permissions === undefined) {
    return undefined;
  }

  return {
    text,
    context: context as ScopeContext,
    resourceType,
    permissions: new Set(permissions),
    query: query === undefined || query === '' ? undefined : new URLSearchParams(query),
  };
}

/**
 * Parses the `scope` claim of an access token.
 * @param scopeClaim - Space-separated scopes (RFC 6749 section 3.3), or undefined.
 * @returns The clinical scopes; other scopes are dropped.
 */
export function parseScopes(scopeClaim: string | undefined): ClinicalScope[] {
  const scopes: ClinicalScope[] = [];
  for (const text of (scopeClaim ?? '').split(' ')) {
    const scope = parseScope(text);
    if (scope !== undefined) {
      scopes.push(scope);
    }
  }
  return scopes;
}

/** Permission from one scope for one request, limited to one patient's compartment or a query where the scope is. */
export interface Grant {
  scope: ClinicalScope;
  /** Patient id the request is limited to, for `patient/` scopes. */
  patientId: string | undefined;
  /** Search parameters the request must match, from a granular scope. */
  query: URLSearchParams | undefined;
}

/**
 * Finds the scopes that allow `permission` on `resourceType`.
 * A `patient/` scope grants access only inside the compartment of the token's `patient` claim, so it
 * grants nothing when the token has no such claim.
 * @param scopes - The token's clinical scopes.
 * @param resourceType - The FHIR resource type of the request.
 * @param permission - The letter the interaction needs.
 * @param patientId - The token's `patient` claim.
 * @returns The grants; an empty list means the request is out of scope.
 */
export function findGrants(
  scopes: readonly ClinicalScope[],
  resourceType: string,
  permission: Permission,
  patientId: string | undefined
): Grant[] {
  const grants: Grant[] = [];
  for (const scope of scopes) {
    if (scope.resourceType !== '*' && scope.resourceType !== resourceType) {
      continue;
    }
    if (!scope.permissions.has(permission)) {
      continue;
    }
    if (scope.query !== undefined && permission !== 'r' && permission !== 's') {
      continue;
    }
    if (scope.context === 'patient' && patientId === undefined) {
      continue;
    }
    grants.push({
      scope,
      patientId: scope.context === 'patient' ? patientId : undefined,
      query: scope.query,
    });
  }
  return grants;
}

/**
 * Returns the grant with the fewest limits: one without patient and query if any, else one without a
 * query. Requests checked against it need no further filtering when it is unlimited.
 * @param grants - Non-empty list from {@link findGrants}.
 */
export function widestGrant(grants: readonly Grant[]): Grant | undefined {
  return (
    grants.find((grant) => grant.patientId === undefined && grant.query === undefined) ??
    grants.find((grant) => grant.query === undefined) ??
    grants[0]
  );
}

/**
 * Names the scope that would allow an interaction, for the 403 message.
 * @param resourceType - The FHIR resource type.
 * @param permission - The letter the interaction needs.
 * @param patientId - The token's `patient` claim, which makes a `patient/` scope the closest fit.
 */
export function suggestScope(
  resourceType: string,
  permission: Permission,
  patientId: string | undefined
): string {
  return `${patientId === undefined ? 'user' : 'patient'}/${resourceType}.${permission}`;
}
