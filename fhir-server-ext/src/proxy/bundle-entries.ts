/**
 * Checks every entry of a client's transaction or batch against the token's scopes before anything is
 * forwarded. A write entry needs `c`, `u` or `d` on its type and a read entry `r` or `s`. A `patient/`
 * grant allows only entries inside its patient's compartment. One failing entry rejects the whole Bundle.
 */
import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import { widestGrant, type Grant, type Permission } from '../auth/scopes.js';
import { constrainSearch, isUnlimited, readOutsideScope, requireGrants } from './access.js';
import { BundleEntryError, type RejectedEntry } from './bundle-entry-error.js';
import { returnedResources, type ProxyRequest } from './context.js';
import { ForbiddenError } from './forbidden-error.js';
import { classifyRequest, isWrite, type Interaction } from './interaction.js';
import { InvalidRequestError } from './invalid-request-error.js';
import { READ_ONLY_OPERATIONS, mayRead, withQuery } from './read-handlers.js';
import { sendUpstreamJson } from './upstream.js';
import type { WriteActivity } from './records.js';
import { resolveWriteActivity } from './write-activity.js';
import { checkWrite, requireResourceBody } from './write-handlers.js';

/** One checked entry of a client's Bundle. */
export interface EntryPlan {
  /** Position of the entry in the client's Bundle, from 0. */
  index: number;
  interaction: Interaction;
  /** The entry to forward. A type search has its URL narrowed to the token's grants. */
  entry: BundleEntry;
  /** The token's grants for a read entry; empty for a write entry. */
  grants: Grant[];
  /** The query of a search entry as forwarded, for its AuditEvent. */
  query: string | undefined;
  /** The type of a search entry, whose matches the FHIR server limited to the grants. */
  searchType: string | undefined;
  /** The Provenance activity of a write entry; undefined for a read or a write that stores nothing. */
  activity: WriteActivity | undefined;
}

/** Tells whether an entry writes, and so gets a Provenance. */
export function isWriteEntry(plan: EntryPlan): boolean {
  return isWrite(plan.interaction.kind);
}

/**
 * Checks every entry of a transaction or batch against the token's scopes.
 * @returns One plan per entry, in the Bundle's order.
 * @throws BundleEntryError listing every rejected entry; nothing may be forwarded then.
 * @throws UpstreamError when the FHIR server cannot be read for a compartment check.
 */
export async function planBundleEntries(request: ProxyRequest, bundle: Bundle): Promise<EntryPlan[]> {
  const plans: EntryPlan[] = [];
  const rejected: RejectedEntry[] = [];
  for (const [index, entry] of (bundle.entry ?? []).entries()) {
    const label = `Bundle entry ${index} (${entry.request?.method ?? 'no method'} ${pathOf(entry)})`;
    try {
      plans.push(await planEntry(request, entry, index));
    } catch (err) {
      if (err instanceof ForbiddenError) {
        rejected.push({
          index,
          status: 403,
          message: `${label} is outside the token's scopes: ${err.message}`,
        });
      } else if (err instanceof InvalidRequestError) {
        rejected.push({ index, status: 400, message: `${label} is invalid: ${err.message}` });
      } else {
        throw err;
      }
    }
  }
  if (rejected.length > 0) {
    throw new BundleEntryError(rejected);
  }
  return plans;
}

/** Returns the entry's URL without its query, which may contain search values. */
function pathOf(entry: BundleEntry): string {
  return (entry.request?.url ?? '').replace(/^\/+/, '').split('?')[0] ?? '';
}

async function planEntry(request: ProxyRequest, entry: BundleEntry, index: number): Promise<EntryPlan> {
  const url = (entry.request?.url ?? '').replace(/^\/+/, '');
  const queryStart = url.indexOf('?');
  const path = queryStart < 0 ? url : url.slice(0, queryStart);
  const query = queryStart < 0 ? '' : url.slice(queryStart + 1);
  const interaction = classifyRequest(entry.request?.method ?? '', path, query !== '');
  if (typeof interaction === 'string') {
    throw new InvalidRequestError(interaction);
  }

  const { token } = request;
  const type = interaction.resourceType ?? '*';
  const plan: EntryPlan = {
    index,
    interaction,
    entry,
    grants: [],
    query: undefined,
    searchType: undefined,
    activity: undefined,
  };

  if (isWrite(interaction.kind)) {
    if (interaction.kind === 'create' || interaction.kind === 'update') {
      requireResourceBody(entry.resource, interaction);
    }
    await checkWrite(request.target, token, interaction, entry.resource);
    const condition = interaction.kind === 'create' ? entry.request?.ifNoneExist : query;
    plan.activity = await resolveWriteActivity(request.target, interaction, condition);
    return plan;
  }

  switch (interaction.kind) {
    case 'read':
    case 'vread':
    case 'history-instance':
      plan.grants = requireGrants(token, type, 'r');
      await requireReadable(request, plan, path);
      return plan;
    case 'search-type': {
      if (entry.request?.method !== 'GET') {
        throw new InvalidRequestError(
          'A search inside a Bundle must use GET with its parameters in the URL.'
        );
      }
      plan.grants = requireGrants(token, type, 's');
      const constrained = constrainSearch(plan.grants, type, new URLSearchParams(query)).toString();
      plan.entry = { ...entry, request: { ...entry.request, url: withQuery(type, constrained) } };
      plan.query = constrained;
      plan.searchType = type;
      return plan;
    }
    case 'operation':
      plan.grants = requireUnlimitedGrants(request, type, operationPermissions(interaction, entry));
      return plan;
    case 'search-system':
    case 'history-type':
    case 'history-system':
    case 'page':
      plan.grants = requireUnlimitedGrants(request, type, ['s']);
      plan.query = query === '' ? undefined : query;
      return plan;
    default:
      throw new InvalidRequestError(
        `A Bundle entry cannot be a ${interaction.kind}; send it as a request of its own.`
      );
  }
}

/** Operations that only read need `r`; any other operation needs every permission, as a request of its own does. */
function operationPermissions(interaction: Interaction, entry: BundleEntry): Permission[] {
  const readOnly = entry.request?.method === 'GET' || READ_ONLY_OPERATIONS.has(interaction.operation ?? '');
  return readOnly ? ['r'] : ['c', 'r', 'u', 'd', 's'];
}

/**
 * Finds the grants for each permission and requires them to be unlimited, because the results of
 * operations and of searches across types cannot be limited to one patient before they are read.
 */
function requireUnlimitedGrants(request: ProxyRequest, type: string, permissions: Permission[]): Grant[] {
  let grants: Grant[] = [];
  for (const permission of permissions) {
    grants = requireGrants(request.token, type, permission);
    if (!isUnlimited(widestGrant(grants))) {
      throw new ForbiddenError(
        `${type} needs a scope such as user/${type}.${permission} or system/${type}.${permission} here, without a patient or query limit.`
      );
    }
  }
  return grants;
}

/**
 * Checks a read by id of a limited token against the resource as stored now: in its patient's
 * compartment, or matching a granular scope. A resource that does not exist passes, and the FHIR server
 * returns its 404 in the response entry.
 */
async function requireReadable(request: ProxyRequest, plan: EntryPlan, path: string): Promise<void> {
  if (isUnlimited(widestGrant(plan.grants))) {
    return;
  }
  const { response, resource } = await sendUpstreamJson(request.target, {
    method: 'GET',
    pathAndQuery: path,
  });
  if (!response.ok || resource === undefined) {
    return;
  }
  const type = plan.interaction.resourceType ?? '';
  const id = plan.interaction.id ?? '';
  const stored = plan.interaction.kind === 'history-instance' ? returnedResources(resource) : [resource];
  for (const candidate of stored) {
    if (!(await mayRead(request, plan.grants, candidate, id))) {
      throw readOutsideScope(request.token, type, id);
    }
  }
}
