/**
 * Turns each write through the proxy into a FHIR transaction (https://hl7.org/fhir/R4/http.html#transaction)
 * that carries the write and its Provenance, so both are stored together or neither is.
 */
import { randomUUID } from 'node:crypto';
import type { Binary, Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import type { AccessToken } from '../auth/token-verifier.js';
import type { Interaction } from './interaction.js';
import { buildWriteProvenance, type WriteActivity } from './records.js';

/** One write as the client sent it. */
export interface ClientWrite {
  interaction: Interaction;
  /** The query string of a conditional update, without `?`. */
  query: string;
  /** Parsed JSON body, or the raw bytes of a JSON Patch. */
  body: unknown;
  contentType: string | undefined;
  ifMatch: string | undefined;
  ifNoneExist: string | undefined;
}

/**
 * Builds the transaction entry of one write and the Provenance entry that targets it.
 * @param activity - The write's activity from resolveWriteActivity; undefined when it stores nothing.
 * @returns The write, then its Provenance unless the write stores nothing.
 * @throws Error with a client-facing message when the write cannot be expressed with a Provenance.
 */
export function buildWriteEntries(
  write: ClientWrite,
  activity: WriteActivity | undefined,
  token: AccessToken,
  recorded: Date
): BundleEntry[] {
  const { interaction } = write;
  const type = interaction.resourceType ?? '';
  const instanceUrl = `${type}/${interaction.id ?? ''}`;
  const request = {
    ...(write.ifMatch === undefined ? {} : { ifMatch: write.ifMatch }),
    ...(write.ifNoneExist === undefined ? {} : { ifNoneExist: write.ifNoneExist }),
  };

  let entry: BundleEntry;
  let target: string;
  switch (interaction.kind) {
    case 'create':
      target = `urn:uuid:${randomUUID()}`;
      entry = {
        fullUrl: target,
        resource: write.body as Resource,
        request: { method: 'POST', url: type, ...request },
      };
      break;
    case 'update':
      if (interaction.conditional) {
        // A urn:uuid fullUrl lets the Provenance target whichever resource the conditional update resolves to.
        target = `urn:uuid:${randomUUID()}`;
        entry = {
          fullUrl: target,
          resource: write.body as Resource,
          request: { method: 'PUT', url: `${type}?${write.query}`, ...request },
        };
      } else {
        target = instanceUrl;
        entry = {
          resource: write.body as Resource,
          request: { method: 'PUT', url: instanceUrl, ...request },
        };
      }
      break;
    case 'patch':
      target = instanceUrl;
      entry = { resource: patchResource(write), request: { method: 'PATCH', url: instanceUrl, ...request } };
      break;
    case 'delete':
      target = instanceUrl;
      entry = { request: { method: 'DELETE', url: instanceUrl, ...request } };
      activity = 'DELETE';
      break;
    default:
      throw new Error(`${interaction.kind} is not a write.`);
  }

  if (activity === undefined) {
    return [entry];
  }
  return [entry, provenanceEntry(target, activity, token, recorded)];
}

function provenanceEntry(
  target: string,
  activity: WriteActivity,
  token: AccessToken,
  recorded: Date
): BundleEntry {
  return {
    fullUrl: `urn:uuid:${randomUUID()}`,
    resource: buildWriteProvenance(target, activity, token, recorded),
    request: { method: 'POST', url: 'Provenance' },
  };
}

/**
 * Builds the Provenance entry for one write entry of a client's transaction. A create or conditional
 * update without a fullUrl gets a `urn:uuid:` fullUrl, so that the Provenance can target it.
 * @param activity - The write's activity from resolveWriteActivity; undefined when it stores nothing.
 * @returns The Provenance entry, or undefined when the write stores nothing.
 */
export function provenanceEntryFor(
  entry: BundleEntry,
  interaction: Interaction,
  activity: WriteActivity | undefined,
  token: AccessToken,
  recorded: Date
): BundleEntry | undefined {
  if (activity === undefined) {
    return undefined;
  }
  let target: string;
  if (interaction.kind === 'create' || interaction.conditional) {
    entry.fullUrl ??= `urn:uuid:${randomUUID()}`;
    target = entry.fullUrl;
  } else {
    target = `${interaction.resourceType ?? ''}/${interaction.id ?? ''}`;
  }
  return provenanceEntry(target, activity, token, recorded);
}

/**
 * In a transaction a JSON Patch travels as a Binary and a FHIRPath Patch as Parameters
 * (https://hl7.org/fhir/R4/http.html#patch).
 */
function patchResource(write: ClientWrite): Resource {
  if ((write.contentType ?? '').includes('json-patch')) {
    const bytes = Buffer.isBuffer(write.body) ? write.body : Buffer.from(JSON.stringify(write.body));
    const binary: Binary = {
      resourceType: 'Binary',
      contentType: 'application/json-patch+json',
      data: bytes.toString('base64'),
    };
    return binary;
  }
  return write.body as Resource;
}

/**
 * Wraps one write and its Provenance in a transaction Bundle.
 */
export function buildWriteTransaction(
  write: ClientWrite,
  activity: WriteActivity | undefined,
  token: AccessToken,
  recorded: Date
): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: buildWriteEntries(write, activity, token, recorded),
  };
}

/** The response to the client for one write, taken from the first entry of the transaction response. */
export interface WriteResponse {
  status: number;
  headers: Record<string, string>;
  body: Resource | undefined;
}

/**
 * Builds the client's response from the transaction response, as if the write had been sent alone.
 * Status, Location, ETag and Last-Modified come from the entry. The body is the one that the client's
 * `Prefer` header requests: the resource by default, `return=OperationOutcome`, or none for `return=minimal`.
 */
export function toWriteResponse(transactionResponse: Bundle, prefer: string | undefined): WriteResponse {
  const entry = transactionResponse.entry?.[0];
  const status = Number.parseInt(entry?.response?.status ?? '200', 10);
  const headers: Record<string, string> = {};
  if (entry?.response?.location !== undefined) {
    headers['location'] = entry.response.location;
  }
  if (entry?.response?.etag !== undefined) {
    headers['etag'] = entry.response.etag.startsWith('W/')
      ? entry.response.etag
      : `W/"${entry.response.etag}"`;
  }
  if (entry?.response?.lastModified !== undefined) {
    headers['last-modified'] = new Date(entry.response.lastModified).toUTCString();
  }

  const wants = /return=([A-Za-z]+)/.exec(prefer ?? '')?.[1] ?? 'representation';
  let body: Resource | undefined;
  if (wants === 'OperationOutcome' || entry?.resource === undefined) {
    body = entry?.response?.outcome;
  } else if (wants === 'representation') {
    body = entry.resource;
  }
  // A 204 cannot carry the OperationOutcome HAPI returns for a delete, so it becomes a 200.
  return { status: status === 204 && body !== undefined ? 200 : status, headers, body };
}
