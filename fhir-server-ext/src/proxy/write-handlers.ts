/**
 * Write-side interactions of the FHIR proxy: create, update, patch and delete, each sent as a
 * transaction with its Provenance. Client transactions and batches are in bundle-handler.ts.
 */
import type { Resource } from '@medplum/fhirtypes';
import { widestGrant, type Grant } from '../auth/scopes.js';
import type { AccessToken } from '../auth/token-verifier.js';
import { isUnlimited, requireGrants, requireWritable } from './access.js';
import { sendProxied, type ProxyRequest } from './context.js';
import { ForbiddenError } from './forbidden-error.js';
import { requiredPermission, type Interaction } from './interaction.js';
import { InvalidRequestError } from './invalid-request-error.js';
import { sendUpstreamJson, type UpstreamTarget } from './upstream.js';
import { resolveWriteActivity } from './write-activity.js';
import { buildWriteTransaction, toWriteResponse } from './writes.js';

/** Handles create, update, patch and delete. */
export async function handleWrite(request: ProxyRequest): Promise<void> {
  const { interaction, req, target, token } = request;
  const body: unknown = req.body;
  if (interaction.kind === 'create' || interaction.kind === 'update') {
    requireResourceBody(body, interaction);
  }

  await checkWrite(target, token, interaction, body as Resource | undefined);

  const ifNoneExist = req.get('if-none-exist');
  const activity = await resolveWriteActivity(
    target,
    interaction,
    interaction.kind === 'create' ? ifNoneExist : request.query
  );
  const transaction = buildWriteTransaction(
    {
      interaction,
      query: request.query,
      body,
      contentType: req.get('content-type'),
      ifMatch: req.get('if-match'),
      ifNoneExist,
    },
    activity,
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
    {
      interaction: interaction.kind,
      resourceType: interaction.resourceType,
      status: written.status,
      provenance: activity ?? 'none, nothing stored',
    },
    'Forwarded a write with its Provenance'
  );
  sendProxied(request, written.status, written.headers, written.body);
}

/**
 * Checks one write against the token's grants. A limited grant may write only inside its patient's
 * compartment, and only by id, so both the new content and the stored version are checked.
 * @throws ForbiddenError outside the grants; InvalidRequestError for a conditional patch or delete.
 */
export async function checkWrite(
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

/**
 * Checks that a create or update carries a resource of the URL's type, with the URL's id for an update.
 * @throws InvalidRequestError naming the mismatch.
 */
export function requireResourceBody(body: unknown, interaction: Interaction): void {
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
