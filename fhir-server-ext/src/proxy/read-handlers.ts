/**
 * Read-side interactions of the FHIR proxy: read, vread, instance history, searches, history, paging
 * and operations. Each checks the token's grants, forwards the request, hides or rejects what the
 * grants do not cover, audits returned patient data, and then responds.
 */
import { Readable } from 'node:stream';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { findGrants, widestGrant, type Grant, type Permission } from '../auth/scopes.js';
import { constrainSearch, isUnlimited, mayShow, readOutsideScope, requireGrants } from './access.js';
import {
  auditPatientData,
  forwardedRequestHeaders,
  returnedResources,
  sendProxied,
  setForwardedHeaders,
  type ProxyRequest,
} from './context.js';
import { ForbiddenError } from './forbidden-error.js';
import { sendUpstream, sendUpstreamJson } from './upstream.js';

/**
 * Operations that only read, so `r` on their type allows them. Any other operation needs `cruds`,
 * because a POST operation can change data ($expunge, $reindex).
 */
export const READ_ONLY_OPERATIONS = new Set([
  'validate',
  'everything',
  'meta',
  'lastn',
  'stats',
  'expand',
  'lookup',
  'validate-code',
  'translate',
  'subsumes',
  'monitoring-summary',
  'drift',
  'explain-flag',
]);

/** Handles read, vread and history-instance. */
export async function handleInstanceRead(request: ProxyRequest): Promise<void> {
  const { interaction, target } = request;
  const type = interaction.resourceType ?? '';
  const grants = requireGrants(request.token, type, 'r');

  if (
    type === 'Binary' &&
    interaction.kind === 'read' &&
    !/fhir\+json/.test(request.req.get('accept') ?? '')
  ) {
    await streamBinary(request);
    return;
  }

  const { response, resource } = await sendUpstreamJson(target, {
    method: 'GET',
    pathAndQuery: withQuery(request.path, request.query),
    headers: forwardedRequestHeaders(request),
  });
  if (response.ok && resource !== undefined) {
    const id = interaction.id ?? '';
    const checked = await fullResourceForCheck(request, grants, resource);
    const resources = interaction.kind === 'history-instance' ? returnedResources(checked) : [checked];
    for (const candidate of resources) {
      if (!(await mayRead(request, grants, candidate, id))) {
        throw readOutsideScope(request.token, type, id);
      }
    }
    await auditPatientData(request, resource, undefined);
  }
  sendProxied(request, response.status, response.headers, resource);
}

/**
 * Handles search-type (GET, or POST `_search` with a form body) and search-system.
 */
export async function handleSearch(request: ProxyRequest): Promise<void> {
  const { interaction, req } = request;
  const type = interaction.resourceType;
  const params = new URLSearchParams(request.query);
  if (req.method === 'POST' && Buffer.isBuffer(req.body)) {
    for (const [key, value] of new URLSearchParams(req.body.toString('utf8'))) {
      params.append(key, value);
    }
  }

  let constrained: URLSearchParams;
  if (type === undefined) {
    requireUnlimited(request, '*', 's', 'A search across all types');
    constrained = params;
  } else {
    constrained = constrainSearch(requireGrants(request.token, type, 's'), type, params);
  }

  // A GET stays a GET, so that the FHIR server's self link repeats the search. A POST keeps its form body.
  const { response, resource } =
    req.method === 'POST'
      ? await sendUpstreamJson(request.target, {
          method: 'POST',
          pathAndQuery: type === undefined ? '_search' : `${type}/_search`,
          headers: {
            ...forwardedRequestHeaders(request),
            'content-type': 'application/x-www-form-urlencoded',
          },
          body: constrained.toString(),
        })
      : await sendUpstreamJson(request.target, {
          method: 'GET',
          pathAndQuery: withQuery(type ?? '', constrained.toString()),
          headers: forwardedRequestHeaders(request),
        });
  await respondWithBundle(request, response, resource, constrained.toString(), type);
}

/** Handles history-type and history-system, which only unlimited grants may use. */
export async function handleHistory(request: ProxyRequest): Promise<void> {
  const type = request.interaction.resourceType;
  requireUnlimited(request, type ?? '*', 's', `History of ${type ?? 'all types'}`);
  const { response, resource } = await sendUpstreamJson(request.target, {
    method: 'GET',
    pathAndQuery: withQuery(request.path, request.query),
    headers: forwardedRequestHeaders(request),
  });
  await respondWithBundle(request, response, resource, undefined);
}

/**
 * Handles a page of search results (`?_getpages=`). The FHIR server applied the first page's
 * constraints, and each entry is checked again here against the token's grants.
 */
export async function handlePage(request: ProxyRequest): Promise<void> {
  if (!request.token.scopes.some((scope) => scope.permissions.has('s'))) {
    throw new ForbiddenError('Paging through search results needs a scope with the s (search) permission.');
  }
  const { response, resource } = await sendUpstreamJson(request.target, {
    method: 'GET',
    pathAndQuery: `?${request.query}`,
    headers: forwardedRequestHeaders(request),
  });
  await respondWithBundle(request, response, resource, request.query);
}

/**
 * Handles `$operation` at system, type or instance level. Instance operations of a limited token are
 * allowed only on a resource the token may read; type and system operations need an unlimited grant.
 */
export async function handleOperation(request: ProxyRequest): Promise<void> {
  const { interaction, req } = request;
  const type = interaction.resourceType ?? '*';
  const readOnly = req.method === 'GET' || READ_ONLY_OPERATIONS.has(interaction.operation ?? '');
  const permissions: Permission[] = readOnly ? ['r'] : ['c', 'r', 'u', 'd', 's'];
  let grants: Grant[] = [];
  for (const permission of permissions) {
    grants = requireGrants(request.token, type, permission);
  }

  if (!isUnlimited(widestGrant(grants))) {
    if (interaction.id === undefined) {
      throw new ForbiddenError(
        `$${interaction.operation ?? ''} on ${type} needs a user/ or system/ scope without a query.`
      );
    }
    const current = await sendUpstreamJson(request.target, {
      method: 'GET',
      pathAndQuery: `${type}/${interaction.id}`,
    });
    if (
      current.resource !== undefined &&
      current.response.ok &&
      !(await mayRead(request, grants, current.resource, interaction.id))
    ) {
      throw readOutsideScope(request.token, type, interaction.id);
    }
  }

  const body =
    req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : JSON.stringify(req.body);
  const { response, resource } = await sendUpstreamJson(request.target, {
    method: req.method,
    pathAndQuery: withQuery(request.path, request.query),
    headers: {
      ...forwardedRequestHeaders(request),
      ...(body === undefined ? {} : { 'content-type': req.get('content-type') ?? 'application/fhir+json' }),
    },
    ...(body === undefined ? {} : { body }),
  });
  await respondWithBundle(request, response, resource, undefined);
}

function requireUnlimited(
  request: ProxyRequest,
  type: string,
  permission: Permission,
  description: string
): void {
  const grants = findGrants(request.token.scopes, type, permission, request.token.patientId);
  if (!isUnlimited(widestGrant(grants))) {
    throw new ForbiddenError(
      `${description} needs a scope such as user/${type}.${permission} or system/${type}.${permission}.`
    );
  }
}

/**
 * Returns the resource to check a limited token against. `_elements` and `_summary` may drop the
 * references that place a resource in a patient's compartment, so the full resource is fetched then.
 */
async function fullResourceForCheck(
  request: ProxyRequest,
  grants: Grant[],
  resource: Resource
): Promise<Resource> {
  const params = new URLSearchParams(request.query);
  if (isUnlimited(widestGrant(grants)) || (!params.has('_elements') && !params.has('_summary'))) {
    return resource;
  }
  const full = await sendUpstreamJson(request.target, { method: 'GET', pathAndQuery: request.path });
  return full.resource ?? resource;
}

/**
 * Tells whether a limited token may read one resource: in its patient's compartment for `patient/`
 * grants, or matching a granular scope's parameters, which the FHIR server checks with `_id`.
 */
export async function mayRead(
  request: ProxyRequest,
  grants: Grant[],
  resource: Resource,
  id: string
): Promise<boolean> {
  if (isUnlimited(widestGrant(grants)) || mayShow(request.token, resource, false)) {
    return true;
  }
  for (const grant of grants.filter((candidate) => candidate.query !== undefined)) {
    const params = constrainSearch([grant], resource.resourceType, new URLSearchParams({ _id: id }));
    params.set('_summary', 'count');
    const { resource: bundle } = await sendUpstreamJson(request.target, {
      method: 'GET',
      pathAndQuery: `${resource.resourceType}?${params.toString()}`,
    });
    if (((bundle as Bundle | undefined)?.total ?? 0) > 0) {
      return true;
    }
  }
  return false;
}

/**
 * Removes the entries a limited token may not see from a Bundle, audits what remains and responds.
 * @param constrainedType - The type of a search limited by {@link constrainSearch}, whose matches the
 *   FHIR server already limited to the grants.
 */
async function respondWithBundle(
  request: ProxyRequest,
  response: globalThis.Response,
  resource: Resource | undefined,
  query: string | undefined,
  constrainedType?: string
): Promise<void> {
  if (response.ok && resource?.resourceType === 'Bundle') {
    removeEntriesOutsideScope(request, resource, constrainedType);
  }
  if (response.ok) {
    await auditPatientData(request, resource, query);
  }
  sendProxied(request, response.status, response.headers, resource);
}

/**
 * Removes the entries of a search, history or operation result that the token may not see.
 * @param constrainedType - The type of a search limited by {@link constrainSearch}.
 */
export function removeEntriesOutsideScope(
  request: ProxyRequest,
  bundle: Bundle,
  constrainedType: string | undefined
): void {
  const before = bundle.entry?.length ?? 0;
  bundle.entry = bundle.entry?.filter(
    (entry) =>
      entry.resource === undefined ||
      mayShow(
        request.token,
        entry.resource,
        entry.search?.mode !== 'include' && entry.resource.resourceType === constrainedType
      )
  );
  const removed = before - (bundle.entry?.length ?? 0);
  if (removed > 0) {
    request.deps.log.info(
      { removed, interaction: request.interaction.kind },
      'Removed Bundle entries outside the token scopes'
    );
  }
}

/** Streams a Binary's raw content, which needs no rewriting and is no patient-compartment data. */
async function streamBinary(request: ProxyRequest): Promise<void> {
  const response = await sendUpstream(request.target, {
    method: 'GET',
    pathAndQuery: request.path,
    headers: { accept: request.req.get('accept') ?? '*/*' },
  });
  setForwardedHeaders(request, response.headers);
  request.res.status(response.status);
  request.res.type(response.headers.get('content-type') ?? 'application/octet-stream');
  if (response.body === null) {
    request.res.end();
    return;
  }
  Readable.fromWeb(response.body as import('node:stream/web').ReadableStream).pipe(request.res);
}

/** Joins a path and a query string without `?`; an empty query adds nothing. */
export function withQuery(path: string, query: string): string {
  return query === '' ? path : `${path}?${query}`;
}
