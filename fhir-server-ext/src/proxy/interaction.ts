/**
 * Classifies a FHIR REST request (https://hl7.org/fhir/R4/http.html) by interaction, resource type and
 * id, and names the SMART permission letter each interaction needs.
 */
import type { Permission } from '../auth/scopes.js';

/** FHIR RESTful interactions, with the codes of http://hl7.org/fhir/restful-interaction where one exists. */
export type InteractionKind =
  | 'read'
  | 'vread'
  | 'update'
  | 'patch'
  | 'delete'
  | 'history-instance'
  | 'history-type'
  | 'history-system'
  | 'create'
  | 'search-type'
  | 'search-system'
  | 'transaction'
  | 'operation'
  | 'page';

/** One classified request. */
export interface Interaction {
  kind: InteractionKind;
  /** The resource type in the path; undefined for system-level requests. */
  resourceType: string | undefined;
  id: string | undefined;
  versionId: string | undefined;
  /** Operation name without `$`, for `operation`. */
  operation: string | undefined;
  /** True for update, patch and delete addressed by search parameters instead of an id. */
  conditional: boolean;
}

const TYPE = /^[A-Z][A-Za-z]{1,63}$/;
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * Classifies a request below the FHIR base.
 * @param method - HTTP method.
 * @param path - Path below the base without a leading slash, such as `Observation/12/_history/3`.
 * @param hasQuery - Whether the URL has a query string.
 * @returns The interaction, or a message saying why the path is not a FHIR REST path.
 */
export function classifyRequest(method: string, path: string, hasQuery: boolean): Interaction | string {
  const segments = path === '' ? [] : path.split('/').map((segment) => decodeURIComponent(segment));
  const base: Interaction = {
    kind: 'read',
    resourceType: undefined,
    id: undefined,
    versionId: undefined,
    operation: undefined,
    conditional: false,
  };
  const [first, second, third, fourth] = segments;

  if (first === undefined) {
    if (method === 'POST') {
      return { ...base, kind: 'transaction' };
    }
    if (method === 'GET') {
      return { ...base, kind: hasQuery ? 'page' : 'search-system' };
    }
    return `${method} is not allowed on the FHIR base URL.`;
  }
  if (first.startsWith('$')) {
    return segments.length === 1
      ? { ...base, kind: 'operation', operation: first.slice(1) }
      : 'Unknown path.';
  }
  if (first === '_history') {
    return segments.length === 1 && method === 'GET' ? { ...base, kind: 'history-system' } : 'Unknown path.';
  }
  if (first === '_search' && method === 'POST' && segments.length === 1) {
    return { ...base, kind: 'search-system' };
  }
  if (!TYPE.test(first)) {
    return `${first} is not a FHIR resource type.`;
  }

  const typed = { ...base, resourceType: first };
  if (second === undefined) {
    switch (method) {
      case 'GET':
        return { ...typed, kind: 'search-type' };
      case 'POST':
        return { ...typed, kind: 'create' };
      case 'PUT':
      case 'PATCH':
      case 'DELETE':
        if (!hasQuery) {
          return `${method} ${first} needs an id or search parameters (conditional ${method.toLowerCase()}).`;
        }
        return { ...typed, kind: methodKind(method), conditional: true };
      default:
        return `${method} is not a FHIR interaction.`;
    }
  }
  if (second === '_search') {
    return method === 'POST' && third === undefined ? { ...typed, kind: 'search-type' } : 'Unknown path.';
  }
  if (second === '_history') {
    return method === 'GET' && third === undefined ? { ...typed, kind: 'history-type' } : 'Unknown path.';
  }
  if (second.startsWith('$')) {
    return third === undefined
      ? { ...typed, kind: 'operation', operation: second.slice(1) }
      : 'Unknown path.';
  }
  if (!ID.test(second)) {
    return `${second} is not a valid FHIR id.`;
  }

  const instance = { ...typed, id: second };
  if (third === undefined) {
    if (method === 'GET') {
      return { ...instance, kind: 'read' };
    }
    if (method === 'PUT' || method === 'PATCH' || method === 'DELETE') {
      return { ...instance, kind: methodKind(method) };
    }
    return `${method} is not allowed on ${first}/${second}.`;
  }
  if (third === '_history' && method === 'GET') {
    if (fourth === undefined) {
      return { ...instance, kind: 'history-instance' };
    }
    return segments.length === 4 ? { ...instance, kind: 'vread', versionId: fourth } : 'Unknown path.';
  }
  if (third.startsWith('$') && fourth === undefined) {
    return { ...instance, kind: 'operation', operation: third.slice(1) };
  }
  return 'Unknown path.';
}

function methodKind(method: 'PUT' | 'PATCH' | 'DELETE'): InteractionKind {
  switch (method) {
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
  }
}

/**
 * Returns the SMART v2 permission an interaction needs. Reads of one resource (read, vread, instance
 * history) need `r`; searches and type or system history need `s`. Operations need `r` on their type,
 * because this proxy cannot tell which operations change data.
 */
export function requiredPermission(kind: InteractionKind): Permission {
  switch (kind) {
    case 'create':
      return 'c';
    case 'update':
    case 'patch':
      return 'u';
    case 'delete':
      return 'd';
    case 'search-type':
    case 'search-system':
    case 'history-type':
    case 'history-system':
    case 'page':
      return 's';
    case 'read':
    case 'vread':
    case 'history-instance':
    case 'operation':
    case 'transaction':
      return 'r';
  }
}

/** Tells whether an interaction changes data, and so needs a Provenance. */
export function isWrite(kind: InteractionKind): boolean {
  return kind === 'create' || kind === 'update' || kind === 'patch' || kind === 'delete';
}
