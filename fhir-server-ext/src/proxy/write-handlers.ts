/**
 * Write-side interactions of the FHIR proxy: create, update, patch and delete, each sent as a
 * transaction with its Provenance, and client transactions and batches, checked entry by entry.
 */
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { widestGrant, type Grant } from '../auth/scopes.js';
import type { AccessToken } from '../auth/token-verifier.js';
import { isUnlimited, requireGrants, requireWritable } from './access.js';
import { auditPatientData, sendProxied, type ProxyRequest } from './context.js';
import { ForbiddenError } from './forbidden-error.js';
import { classifyRequest, isWrite, requiredPermission, type Interaction } from './interaction.js';
import { InvalidRequestError } from './invalid-request-error.js';
import { sendUpstreamJson, type UpstreamTarget } from './upstream.js';
import { buildWriteTransaction, provenanceEntryFor, toWriteResponse } from './writes.js';

/** Handles create, update, patch and delete. */
export async function handleWrite(request: ProxyRequest): Promise<void> {
  const { interaction, req, target, token } = request;
  const body: unknown = req.body;
  if (interaction.kind === 'create' || interaction.kind === 'update') {
    requireResourceBody(body, interaction);
  }

  await checkWrite(target, token, interaction, body as Resource | undefined);

  const transaction = buildWriteTransaction(
    {
      interaction,
      query: request.query,
      body,
      contentType: req.get('content-type'),
      ifMatch: req.get('if-match'),
      ifNoneExist: req.get('if-none-exist'),
    },
    token,
    new Date()
  );
  const { response, resource } = await sendUpstreamJson(target, {
    method: 'POST',
    pathAndQuery: '',
    headers: { 'content-type': 'application/fhir+json', prefer: 'return=representation' },
    body: JSON.stringify(transaction),
  });
  if (!response.ok || resource?.resourceType !== 'Bundle') {
    // The FHIR server rejected the write (invalid resource, version conflict...): pass its outcome on.
    sendProxied(request, response.status, {}, resource);
    return;
  }

  const written = toWriteResponse(resource, req.get('prefer'));
  request.deps.log.info(
    { interaction: interaction.kind, resourceType: interaction.resourceType, status: written.status },
    'Wrote a resource with its Provenance'
  );
  sendProxied(request, written.status, written.headers, written.body);
}

/**
 * Handles a client's transaction or batch, checking every entry against the token's scopes. Each write
 * in a transaction gets a Provenance entry, which is removed from the response again, so the response
 * entries match the request's. A batch may not contain writes, because a batch entry cannot be stored
 * together with its Provenance.
 */
export async function handleTransaction(request: ProxyRequest): Promise<void> {
  const { req, target, token } = request;
  const bundle = req.body as Partial<Bundle> | undefined;
  if (bundle?.resourceType !== 'Bundle' || (bundle.type !== 'transaction' && bundle.type !== 'batch')) {
    throw new InvalidRequestError('POST to the FHIR base needs a Bundle of type transaction or batch.');
  }

  const entries = bundle.entry ?? [];
  const recorded = new Date();
  const provenanceEntries: BundleEntry[] = [];
  for (const [index, entry] of entries.entries()) {
    const interaction = classifyEntry(entry, index);
    if (!isWrite(interaction.kind)) {
      requireUnlimitedRead(token, interaction, index);
      continue;
    }
    if (bundle.type === 'batch') {
      throw new InvalidRequestError(
        `Batch entry ${index} is a ${interaction.kind}; send writes in a transaction, so each lands together with its Provenance.`
      );
    }
    if (interaction.kind === 'create' || interaction.kind === 'update') {
      requireResourceBody(entry.resource, interaction);
    }
    await checkWrite(target, token, interaction, entry.resource);
    provenanceEntries.push(provenanceEntryFor(entry, interaction, token, recorded));
  }

  const sent: Bundle = { ...(bundle as Bundle), entry: [...entries, ...provenanceEntries] };
  const { response, resource } = await sendUpstreamJson(target, {
    method: 'POST',
    pathAndQuery: '',
    headers: {
      'content-type': 'application/fhir+json',
      ...(req.get('prefer') === undefined ? {} : { prefer: req.get('prefer') ?? '' }),
    },
    body: JSON.stringify(sent),
  });
  if (response.ok && resource?.resourceType === 'Bundle') {
    const responseBundle = resource;
    responseBundle.entry = responseBundle.entry?.slice(0, entries.length);
    await auditPatientData(request, responseBundle, undefined);
  }
  sendProxied(request, response.status, response.headers, resource);
}

function classifyEntry(entry: BundleEntry, index: number): Interaction {
  const url = entry.request?.url ?? '';
  const [path = '', query] = url.replace(/^\/+/, '').split('?');
  const interaction = classifyRequest(entry.request?.method ?? '', path, query !== undefined && query !== '');
  if (typeof interaction === 'string') {
    throw new InvalidRequestError(
      `Bundle entry ${index} (${entry.request?.method ?? 'no method'} ${url}): ${interaction}`
    );
  }
  return interaction;
}

/**
 * Rejects a read inside a transaction or batch unless an unlimited grant allows it, because the proxy
 * does not filter a transaction response entry by entry.
 */
function requireUnlimitedRead(token: AccessToken, interaction: Interaction, index: number): void {
  const type = interaction.resourceType ?? '*';
  const grants = requireGrants(token, type, requiredPermission(interaction.kind));
  if (!isUnlimited(widestGrant(grants))) {
    throw new ForbiddenError(
      `Bundle entry ${index} reads ${type} with a patient-limited or granular scope; send such reads as separate requests.`
    );
  }
}

/**
 * Checks one write against the token's grants. A limited grant may write only inside its patient's
 * compartment, and only by id, so both the new content and the stored version are checked.
 */
async function checkWrite(
  target: UpstreamTarget,
  token: AccessToken,
  interaction: Interaction,
  body: Resource | undefined
): Promise<void> {
  const type = interaction.resourceType ?? '';
  if (interaction.conditional && interaction.kind !== 'update') {
    // NOTE: conditional patch and delete would need the matching ids first, to name them in Provenances.
    throw new InvalidRequestError(
      `Conditional ${interaction.kind} is not supported; ${interaction.kind} by id instead.`
    );
  }

  const grants: Grant[] = requireGrants(token, type, requiredPermission(interaction.kind));
  if (isUnlimited(widestGrant(grants))) {
    return;
  }
  if (interaction.conditional) {
    throw new ForbiddenError(
      `A conditional update of ${type} needs a user/ or system/ scope; update by id instead.`
    );
  }
  if (body !== undefined && (interaction.kind === 'create' || interaction.kind === 'update')) {
    requireWritable(grants, body);
  }
  if (interaction.kind !== 'create') {
    const { response, resource } = await sendUpstreamJson(target, {
      method: 'GET',
      pathAndQuery: `${type}/${interaction.id ?? ''}`,
    });
    if (response.ok && resource !== undefined) {
      requireWritable(grants, resource);
    }
  }
}

function requireResourceBody(body: unknown, interaction: Interaction): void {
  const resource = body as Partial<Resource> | undefined;
  if (typeof resource !== 'object' || resource.resourceType !== interaction.resourceType) {
    throw new InvalidRequestError(`The body must be a ${interaction.resourceType ?? ''} resource in JSON.`);
  }
  if (interaction.kind === 'update' && !interaction.conditional && resource.id !== interaction.id) {
    throw new InvalidRequestError(
      `The resource id ${String(resource.id)} does not match the URL id ${interaction.id ?? ''}.`
    );
  }
}
