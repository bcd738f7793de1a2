/**
 * Client transactions and batches (https://hl7.org/fhir/R4/http.html#transaction). Every entry is
 * checked before anything is forwarded (bundle-entries.ts). Each written resource gets one Provenance,
 * stored atomically with it:
 * - a transaction is sent as one transaction with a Provenance entry per write entry;
 * - a batch is split, because its entries succeed or fail one by one. Each write entry is sent as its
 *   own transaction of the write and its Provenance, so a failed write leaves no Provenance. The read
 *   entries are sent together as one batch, after the writes, as a transaction orders them.
 * Read entries that return patient data get an AuditEvent each before the response is sent.
 */
import type {
  Bundle,
  BundleEntry,
  OperationOutcome,
  OperationOutcomeIssue,
  Resource,
} from '@medplum/fhirtypes';
import { isUnlimited } from './access.js';
import { isWriteEntry, planBundleEntries, type EntryPlan } from './bundle-entries.js';
import { auditPatientData, returnedResources, sendProxied, type ProxyRequest } from './context.js';
import { InvalidRequestError } from './invalid-request-error.js';
import { mayRead, removeEntriesOutsideScope } from './read-handlers.js';
import { widestGrant } from '../auth/scopes.js';
import { sendUpstreamJson } from './upstream.js';
import { UpstreamError } from './upstream-error.js';
import { provenanceEntryFor } from './writes.js';

/** Handles a POST of a transaction or batch Bundle to the FHIR base. */
export async function handleBundle(request: ProxyRequest): Promise<void> {
  const bundle = request.req.body as Partial<Bundle> | undefined;
  if (bundle?.resourceType !== 'Bundle' || (bundle.type !== 'transaction' && bundle.type !== 'batch')) {
    throw new InvalidRequestError('POST to the FHIR base needs a Bundle of type transaction or batch.');
  }
  if (bundle.entry !== undefined && !Array.isArray(bundle.entry)) {
    throw new InvalidRequestError('Bundle.entry must be an array.');
  }

  const plans = await planBundleEntries(request, bundle as Bundle);
  if (bundle.type === 'transaction') {
    await forwardTransaction(request, bundle as Bundle, plans);
  } else {
    await forwardBatch(request, plans);
  }
}

function bundleHeaders(request: ProxyRequest): Record<string, string> {
  const prefer = request.req.get('prefer');
  return { 'content-type': 'application/fhir+json', ...(prefer === undefined ? {} : { prefer }) };
}

async function forwardTransaction(request: ProxyRequest, bundle: Bundle, plans: EntryPlan[]): Promise<void> {
  const recorded = new Date();
  const provenanceEntries = plans
    .filter(isWriteEntry)
    .map((plan) => provenanceEntryFor(plan.entry, plan.interaction, plan.activity, request.token, recorded))
    .filter((entry): entry is BundleEntry => entry !== undefined);
  const sent: Bundle = { ...bundle, entry: [...plans.map((plan) => plan.entry), ...provenanceEntries] };

  const { response, resource } = await sendUpstreamJson(request.target, {
    method: 'POST',
    pathAndQuery: '',
    headers: bundleHeaders(request),
    body: JSON.stringify(sent),
  });
  if (response.ok && resource?.resourceType === 'Bundle') {
    // The response entries follow the request's, so the Provenance entries are the trailing ones.
    const entries = resource.entry?.slice(0, plans.length) ?? [];
    resource.entry = entries;
    await releaseReadEntries(request, plans, new Map(entries.map((entry, index) => [index, entry])));
    request.deps.log.info(
      { entries: plans.length, provenances: provenanceEntries.length },
      'Forwarded a transaction with its Provenances'
    );
  }
  sendProxied(request, response.status, response.headers, resource);
}

async function forwardBatch(request: ProxyRequest, plans: EntryPlan[]): Promise<void> {
  const recorded = new Date();
  const results = new Map<number, BundleEntry>();
  // NOTE: writes go one transaction at a time, so a batch of n writes takes n round trips to the server.
  for (const plan of plans.filter(isWriteEntry)) {
    results.set(plan.index, await writeBatchEntry(request, plan, recorded));
  }

  const reads = plans.filter((plan) => !isWriteEntry(plan));
  for (const [position, entry] of (await readBatchEntries(request, reads)).entries()) {
    const plan = reads[position];
    if (plan !== undefined) {
      results.set(plan.index, entry);
    }
  }
  await releaseReadEntries(request, reads, results);

  const failed = [...results.values()].filter((entry) => !/^2/.test(entry.response?.status ?? '')).length;
  request.deps.log.info(
    { entries: plans.length, writes: plans.length - reads.length, failed },
    'Forwarded a batch entry by entry'
  );
  const responseBundle: Bundle = {
    resourceType: 'Bundle',
    type: 'batch-response',
    entry: plans.map((plan) => results.get(plan.index) ?? failedEntry(500, 'exception', 'No response.')),
  };
  sendProxied(request, 200, {}, responseBundle);
}

/** Sends one write entry of a batch as a transaction with its Provenance and returns its response entry. */
async function writeBatchEntry(request: ProxyRequest, plan: EntryPlan, recorded: Date): Promise<BundleEntry> {
  const transaction: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      plan.entry,
      provenanceEntryFor(plan.entry, plan.interaction, plan.activity, request.token, recorded),
    ].filter((entry): entry is BundleEntry => entry !== undefined),
  };
  try {
    const { response, resource } = await sendUpstreamJson(request.target, {
      method: 'POST',
      pathAndQuery: '',
      headers: bundleHeaders(request),
      body: JSON.stringify(transaction),
    });
    const written = resource?.resourceType === 'Bundle' ? resource.entry?.[0] : undefined;
    if (response.ok && written !== undefined) {
      return written;
    }
    return outcomeEntry(response.status, resource);
  } catch (err) {
    if (!(err instanceof UpstreamError)) {
      throw err;
    }
    request.deps.log.error({ err, entry: plan.index }, 'A batch write failed to reach the FHIR server');
    return failedEntry(err.status, err.status === 504 ? 'timeout' : 'transient', err.message);
  }
}

/** Sends the read entries of a batch as one batch and returns their response entries in the same order. */
async function readBatchEntries(request: ProxyRequest, reads: EntryPlan[]): Promise<BundleEntry[]> {
  if (reads.length === 0) {
    return [];
  }
  const batch: Bundle = { resourceType: 'Bundle', type: 'batch', entry: reads.map((plan) => plan.entry) };
  try {
    const { response, resource } = await sendUpstreamJson(request.target, {
      method: 'POST',
      pathAndQuery: '',
      headers: bundleHeaders(request),
      body: JSON.stringify(batch),
    });
    if (response.ok && resource?.resourceType === 'Bundle') {
      return reads.map(
        (_plan, position) =>
          resource.entry?.[position] ?? failedEntry(502, 'exception', 'The FHIR server returned no entry.')
      );
    }
    return reads.map(() => outcomeEntry(response.status, resource));
  } catch (err) {
    if (!(err instanceof UpstreamError)) {
      throw err;
    }
    request.deps.log.error({ err, entries: reads.length }, 'The read entries of a batch failed');
    return reads.map(() =>
      failedEntry(err.status, err.status === 504 ? 'timeout' : 'transient', err.message)
    );
  }
}

/**
 * Checks what the read entries returned against the token's grants and queues an AuditEvent per entry
 * that returned patient data. An entry is withheld with a 403 outcome when a limited token may not read
 * it, which happens only when the resource changed after the check before forwarding. When Redis does
 * not store an entry's AuditEvent, that entry is withheld with a 503 outcome, and the other entries,
 * writes included, are still returned, because the FHIR server has already processed them.
 * @param results - Response entries by the entry's position in the client's Bundle.
 */
async function releaseReadEntries(
  request: ProxyRequest,
  plans: EntryPlan[],
  results: Map<number, BundleEntry>
): Promise<void> {
  const audited: { entry: BundleEntry; stored: Promise<void> }[] = [];
  for (const plan of plans.filter((candidate) => !isWriteEntry(candidate))) {
    const entry = results.get(plan.index);
    if (entry?.resource === undefined) {
      continue;
    }
    if (!(await mayRelease(request, plan, entry.resource))) {
      request.deps.log.warn({ entry: plan.index }, 'Withheld a Bundle read entry outside the token scopes');
      withhold(entry, failedEntry(403, 'forbidden', "The resource is outside the token's scopes."));
      continue;
    }
    const entryRequest: ProxyRequest = { ...request, interaction: plan.interaction };
    audited.push({ entry, stored: auditPatientData(entryRequest, entry.resource, plan.query) });
  }

  const settled = await Promise.allSettled(audited.map((item) => item.stored));
  const failures = settled.flatMap((result, position) =>
    result.status === 'rejected' ? [{ reason: result.reason as unknown, position }] : []
  );
  for (const { position } of failures) {
    const item = audited[position];
    if (item !== undefined) {
      withhold(
        item.entry,
        failedEntry(
          503,
          'transient',
          'The audit log (Redis) is unavailable, so the patient data of this entry is withheld; read it again later.'
        )
      );
    }
  }
  if (failures.length > 0) {
    request.deps.log.error(
      { err: failures[0]?.reason, withheld: failures.length, readEntries: audited.length },
      'Audit queue unavailable; withheld the read entries of a Bundle'
    );
  }
}

/**
 * Tells whether a read entry's result may be returned. Entries of searches and other Bundles are
 * filtered in place as in a request of its own. A limited token's read by id is checked again.
 */
async function mayRelease(request: ProxyRequest, plan: EntryPlan, resource: Resource): Promise<boolean> {
  const kind = plan.interaction.kind;
  if (kind !== 'read' && kind !== 'vread' && kind !== 'history-instance') {
    if (resource.resourceType === 'Bundle') {
      removeEntriesOutsideScope({ ...request, interaction: plan.interaction }, resource, plan.searchType);
    }
    return true;
  }
  if (isUnlimited(widestGrant(plan.grants))) {
    return true;
  }
  const returned = kind === 'history-instance' ? returnedResources(resource) : [resource];
  for (const candidate of returned) {
    if (!(await mayRead(request, plan.grants, candidate, plan.interaction.id ?? ''))) {
      return false;
    }
  }
  return true;
}

function withhold(entry: BundleEntry, replacement: BundleEntry): void {
  delete entry.resource;
  delete entry.fullUrl;
  entry.response = replacement.response ?? { status: '500' };
}

function failedEntry(status: number, code: OperationOutcomeIssue['code'], text: string): BundleEntry {
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, details: { text } }],
  };
  return { response: { status: String(status), outcome } };
}

/** Builds the response entry of a request the FHIR server rejected, with its OperationOutcome when it sent one. */
function outcomeEntry(status: number, resource: Resource | undefined): BundleEntry {
  if (resource?.resourceType === 'OperationOutcome') {
    return { response: { status: String(status), outcome: resource } };
  }
  return failedEntry(status, 'exception', `The FHIR server returned HTTP ${status}.`);
}
