/**
 * Turns the plain POST entries of a Synthea transaction Bundle into idempotent ones, so that loading the
 * same bundle twice creates nothing the second time.
 *
 * FHIR R4 transaction rules (https://hl7.org/fhir/R4/http.html#trules): a POST with `ifNoneExist` is a
 * conditional create that returns the existing match instead of creating a copy, and a PUT to
 * `Type/id` creates the resource with that id or updates it. The server resolves `urn:uuid:` references
 * to whichever resource each entry ends up with.
 */
import { createHash } from 'node:crypto';
import type { Bundle, BundleEntry, Identifier, Resource } from '@medplum/fhirtypes';
import { BundleFormatError } from './bundle-error.js';

/** FHIR id syntax (R4 datatypes: `[A-Za-z0-9\-\.]{1,64}`). */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

const URN_UUID_PREFIX = 'urn:uuid:';

/** How many entries of each kind the rewrite produced. */
export interface RewriteStats {
  conditionalCreates: number;
  puts: number;
  /** Entries already conditional or with a method other than POST, sent unchanged. */
  unchanged: number;
}

/**
 * Checks that a parsed JSON value is a transaction Bundle whose entries all carry a resource and a request.
 * @param value - Parsed file content.
 * @returns The value typed as a Bundle.
 * @throws BundleFormatError naming the first problem found.
 */
export function assertTransactionBundle(value: unknown): Bundle {
  if (typeof value !== 'object' || value === null || (value as Resource).resourceType !== 'Bundle') {
    throw new BundleFormatError('Not a FHIR Bundle: resourceType must be "Bundle".');
  }

  const bundle = value as Bundle;
  const type: unknown = bundle.type;
  if (type !== 'transaction' && type !== 'batch') {
    throw new BundleFormatError(`Bundle.type is "${String(type)}"; expected "transaction" or "batch".`);
  }
  if (!Array.isArray(bundle.entry)) {
    throw new BundleFormatError('Bundle.entry is missing or not an array.');
  }

  for (const [index, entry] of bundle.entry.entries()) {
    if (typeof entry.resource?.resourceType !== 'string') {
      throw new BundleFormatError(`Bundle.entry[${String(index)}] has no resource with a resourceType.`);
    }
    if (entry.request?.method === undefined || typeof entry.request.url !== 'string') {
      throw new BundleFormatError(`Bundle.entry[${String(index)}] has no request method and url.`);
    }
  }
  return bundle;
}

/**
 * Builds the conditional-create search for a resource's first identifier.
 * @param identifier - The resource's first identifier.
 * @returns A query such as `identifier=https://github.com/synthetichealth/synthea|1234`, or undefined
 *   when the identifier lacks a system or a value (a bare value would match other systems' identifiers).
 */
export function identifierQuery(identifier: Identifier | undefined): string | undefined {
  if (identifier?.system === undefined || identifier.value === undefined) {
    return undefined;
  }
  return `identifier=${encodeURIComponent(identifier.system)}|${encodeURIComponent(identifier.value)}`;
}

/**
 * Derives the server id a resource without identifier gets: the urn uuid itself when it is a valid
 * FHIR id that is not all digits (HAPI rejects client-assigned numeric ids), otherwise a hash of it.
 * @param fullUrl - The entry's fullUrl, such as `urn:uuid:0b3c…`.
 * @returns A deterministic FHIR id.
 */
export function deterministicId(fullUrl: string): string {
  const candidate = fullUrl.startsWith(URN_UUID_PREFIX) ? fullUrl.slice(URN_UUID_PREFIX.length) : fullUrl;
  if (FHIR_ID.test(candidate) && !/^\d+$/.test(candidate)) {
    return candidate.toLowerCase();
  }
  return `s-${createHash('sha256').update(fullUrl).digest('hex').slice(0, 40)}`;
}

function rewriteEntry(entry: BundleEntry, stats: RewriteStats): BundleEntry {
  const resource = entry.resource as Resource & { identifier?: Identifier[] };
  const request = entry.request;
  if (request?.method !== 'POST' || request.ifNoneExist !== undefined) {
    stats.unchanged++;
    return entry;
  }

  const query = identifierQuery(resource.identifier?.[0]);
  if (query !== undefined) {
    stats.conditionalCreates++;
    return { ...entry, request: { ...request, ifNoneExist: query } };
  }

  if (entry.fullUrl === undefined) {
    // Without a fullUrl no id can be derived, and no other entry can refer to this one either.
    stats.unchanged++;
    return entry;
  }
  const id = deterministicId(entry.fullUrl);
  stats.puts++;
  return {
    ...entry,
    resource: { ...resource, id },
    request: { method: 'PUT', url: `${resource.resourceType}/${id}` },
  };
}

/**
 * Rewrites every POST entry of a transaction into a conditional create (first identifier) or a PUT with
 * a deterministic id (no usable identifier). The input is not modified.
 * @param bundle - A transaction Bundle as Synthea writes it.
 * @returns The rewritten Bundle and what was changed.
 */
export function rewriteForIdempotentLoad(bundle: Bundle): { bundle: Bundle; stats: RewriteStats } {
  const stats: RewriteStats = { conditionalCreates: 0, puts: 0, unchanged: 0 };
  const entry = (bundle.entry ?? []).map((e) => rewriteEntry(e, stats));
  return { bundle: { ...bundle, entry }, stats };
}
