/**
 * Keeps fhir-server-ext's rest-hook Subscription on the FHIR server (R4 Subscription:
 * https://hl7.org/fhir/R4/subscription.html). HAPI FHIR delivers each matching create or update as
 * `PUT {endpoint}/{resourceType}/{id}` with the resource as body and the channel headers added.
 */
import type { Bundle, Coding, Subscription } from '@medplum/fhirtypes';
import { AIAST_SEARCH, MONITORMED_BASE, type FhirClient, type Logger } from '@monitormed/common';
import { SubscriptionSetupError } from './subscription-setup-error.js';

/** Criteria of the analysis subscription: every AI-asserted Observation. */
export const AI_OBSERVATION_CRITERIA = `Observation?_security=${AIAST_SEARCH}`;

/** HTTP header that carries the shared secret on every delivery. */
export const SECRET_HEADER = 'X-MonitorMed-Secret';

/** Tag system that marks Subscriptions MonitorMed owns; the code names the owner, such as `fhir-server-ext`. */
export const SUBSCRIPTION_OWNER_SYSTEM = `${MONITORMED_BASE}/CodeSystem/subscription-owner`;

/** Required content of the Subscription. */
export interface SubscriptionSpec {
  /** Owner code in {@link SUBSCRIPTION_OWNER_SYSTEM}; the Subscription is found again by this tag. */
  owner: string;
  criteria: string;
  /** URL HAPI calls, ending in `/subscription-hook`. */
  endpoint: string;
  secret: string;
}

/** Timing of the wait for activation. */
export interface ActivationWait {
  timeoutMs: number;
  pollIntervalMs: number;
}

/**
 * Builds the Subscription resource for a spec, with status `requested` so that HAPI activates it.
 * @param spec - Owner, criteria, endpoint and secret.
 * @returns A Subscription without id.
 */
export function buildSubscription(spec: SubscriptionSpec): Subscription {
  return {
    resourceType: 'Subscription',
    meta: { tag: [ownerTag(spec.owner)] },
    status: 'requested',
    reason: `MonitorMed ${spec.owner}: queue AI-asserted Observations for analysis`,
    criteria: spec.criteria,
    channel: {
      type: 'rest-hook',
      endpoint: spec.endpoint,
      payload: 'application/fhir+json',
      header: [`${SECRET_HEADER}: ${spec.secret}`],
    },
  };
}

/**
 * Creates or updates the owner's Subscription so it matches `spec`, then waits until HAPI reports it active.
 * Extra Subscriptions with the same owner tag (left by a race of two starts) are deleted.
 * @param client - FHIR client of the server that sends the notifications.
 * @param spec - The expected Subscription.
 * @param wait - Activation timeout and poll interval.
 * @param log - Service logger.
 * @returns The active Subscription, with its id.
 * @throws SubscriptionSetupError when the server rejects the Subscription, sets it to `error`, or does not
 *   activate it in time.
 */
export async function ensureSubscription(
  client: FhirClient,
  spec: SubscriptionSpec,
  wait: ActivationWait,
  log: Logger
): Promise<Subscription & { id: string }> {
  const expected = buildSubscription(spec);
  const existing = await findOwnedSubscriptions(client, spec.owner);
  const [current, ...extra] = existing;

  for (const duplicate of extra) {
    log.warn({ subscriptionId: duplicate.id }, 'Deleting duplicate Subscription of this owner');
    await client.delete({ resourceType: 'Subscription', id: duplicate.id });
  }

  let id: string;
  if (current === undefined) {
    const created = (await writeSubscription(() =>
      client.create({ resourceType: 'Subscription', body: { ...expected } })
    )) as Subscription;
    id = requireId(created);
    log.info({ subscriptionId: id }, 'Created rest-hook Subscription');
  } else if (matchesSpec(current, expected) && current.status === 'active') {
    log.info({ subscriptionId: current.id }, 'Rest-hook Subscription is already active');
    return current;
  } else {
    await writeSubscription(() =>
      client.update({ resourceType: 'Subscription', id: current.id, body: { ...expected, id: current.id } })
    );
    id = current.id;
    log.info({ subscriptionId: id, previousStatus: current.status }, 'Updated rest-hook Subscription');
  }

  return waitUntilActive(client, id, wait);
}

/**
 * Deletes the owner's Subscriptions, for example when a test server stops.
 *
 * HAPI FHIR 8.8 can write a just-activated Subscription back after it was deleted, because an activation
 * still in flight saves it again. So this checks again after `settleMs` and repeats the delete, at most
 * `maxRounds` times.
 * @param client - FHIR client.
 * @param owner - Owner code of the tag.
 * @param settleMs - Wait before checking that the Subscriptions stay deleted.
 * @param maxRounds - Maximum number of delete rounds.
 * @returns The number of deletes sent.
 */
export async function deleteOwnedSubscriptions(
  client: FhirClient,
  owner: string,
  settleMs = 1_500,
  maxRounds = 4
): Promise<number> {
  let deletes = 0;
  for (let round = 1; round <= maxRounds; round += 1) {
    const owned = await findOwnedSubscriptions(client, owner);
    if (owned.length === 0) {
      return deletes;
    }

    for (const subscription of owned) {
      await client.delete({ resourceType: 'Subscription', id: subscription.id });
      deletes += 1;
    }
    await new Promise((resolve) => setTimeout(resolve, settleMs));
  }
  return deletes;
}

function ownerTag(owner: string): Coding {
  return { system: SUBSCRIPTION_OWNER_SYSTEM, code: owner };
}

async function findOwnedSubscriptions(
  client: FhirClient,
  owner: string
): Promise<(Subscription & { id: string })[]> {
  const bundle = (await client.search({
    resourceType: 'Subscription',
    searchParams: { _tag: `${SUBSCRIPTION_OWNER_SYSTEM}|${owner}`, _count: 50 },
    // HAPI reuses the result of an identical search for a minute by default; this search must be current.
    options: { headers: { 'Cache-Control': 'no-cache' } },
  })) as unknown as Bundle<Subscription>;

  return (bundle.entry ?? [])
    .map((entry) => entry.resource)
    .filter((resource): resource is Subscription & { id: string } => resource?.id !== undefined)
    .sort((a, b) => a.id.localeCompare(b.id));
}

function matchesSpec(current: Subscription, wanted: Subscription): boolean {
  return (
    current.criteria === wanted.criteria &&
    current.channel.type === wanted.channel.type &&
    current.channel.endpoint === wanted.channel.endpoint &&
    current.channel.payload === wanted.channel.payload &&
    JSON.stringify(current.channel.header ?? []) === JSON.stringify(wanted.channel.header ?? [])
  );
}

async function writeSubscription(write: () => Promise<unknown>): Promise<unknown> {
  try {
    return await write();
  } catch (err) {
    throw new SubscriptionSetupError(
      `The FHIR server rejected the rest-hook Subscription: ${describeFhirError(err)}. ` +
        'Check that rest-hook subscriptions are enabled on it.',
      { cause: err }
    );
  }
}

async function waitUntilActive(
  client: FhirClient,
  id: string,
  wait: ActivationWait
): Promise<Subscription & { id: string }> {
  const deadline = Date.now() + wait.timeoutMs;
  let status = 'unread';

  // HAPI activates a requested Subscription asynchronously, so poll until it reports `active`.
  for (;;) {
    const subscription = (await client.read({ resourceType: 'Subscription', id })) as unknown as Subscription;
    status = subscription.status;
    if (status === 'active') {
      return { ...subscription, id };
    }
    if (status === 'error') {
      throw new SubscriptionSetupError(
        `Subscription/${id} is in status error: ${subscription.error ?? 'no reason given'}.`
      );
    }
    if (Date.now() >= deadline) {
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, wait.pollIntervalMs));
  }

  throw new SubscriptionSetupError(
    `Subscription/${id} did not become active within ${wait.timeoutMs} ms (status ${status}). ` +
      'Check that the FHIR server has rest-hook subscriptions enabled.'
  );
}

function requireId(resource: Subscription): string {
  if (resource.id === undefined) {
    throw new SubscriptionSetupError('The FHIR server created the Subscription but returned no id.');
  }
  return resource.id;
}

/**
 * Formats a fhir-kit-client error as `HTTP <status>: <diagnostics>` without the resource body.
 * @param err - The error thrown by fhir-kit-client or fetch.
 * @returns A one-line description.
 */
export function describeFhirError(err: unknown): string {
  const response = (err as { response?: { status?: number; data?: unknown } } | undefined)?.response;
  if (response?.status === undefined) {
    return err instanceof Error ? err.message : String(err);
  }

  const outcome = response.data as { issue?: { diagnostics?: string }[] } | undefined;
  const diagnostics = outcome?.issue
    ?.map((issue) => issue.diagnostics)
    .filter(Boolean)
    .join('; ');
  return diagnostics ? `HTTP ${response.status}: ${diagnostics}` : `HTTP ${response.status}`;
}
