/**
 * Requests to the FHIR server behind the proxy (HAPI FHIR), with Node's built-in fetch (undici), and the
 * rewriting of the server's base URL in its responses to the proxy's public base URL.
 */
import type { Resource } from '@medplum/fhirtypes';
import { UpstreamError } from './upstream-error.js';

/**
 * Request headers of reads, searches and operations passed to the FHIR server
 * (https://hl7.org/fhir/R4/http.html#Http-Headers). Writes carry If-Match and If-None-Exist inside
 * their transaction entry instead.
 */
// Cache-Control is passed on because HAPI reuses an identical search's results for a minute or more
// unless the request sends `no-cache`; without it a newly registered model is missing from searches.
export const FORWARDED_REQUEST_HEADERS = [
  'if-none-match',
  'if-modified-since',
  'prefer',
  'cache-control',
] as const;

/** Response headers passed back to the client; Location and Content-Location are rewritten. */
export const FORWARDED_RESPONSE_HEADERS = ['etag', 'last-modified', 'location', 'content-location'] as const;

/** Base URLs of the FHIR server and of the proxy, and the request time limit. */
export interface UpstreamTarget {
  /** Base URL of the FHIR server, without a trailing slash. */
  fhirBaseUrl: string;
  /** Public base URL of the proxy's FHIR endpoint, without a trailing slash. */
  publicBaseUrl: string;
  /** Time limit of one request to the FHIR server. */
  timeoutMs: number;
}

/** One request to the FHIR server. */
export interface UpstreamRequest {
  method: string;
  /** Path and query below the base, such as `Observation?subject=Patient/1`; empty for the base. */
  pathAndQuery: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/**
 * Sends a request to the FHIR server.
 * @returns The response; HTTP error statuses are returned, not thrown.
 * @throws UpstreamError 502 when the server is unreachable, 504 when it does not respond in time.
 */
export async function sendUpstream(target: UpstreamTarget, request: UpstreamRequest): Promise<Response> {
  const separator = request.pathAndQuery === '' || request.pathAndQuery.startsWith('?') ? '' : '/';
  const url = `${target.fhirBaseUrl}${separator}${request.pathAndQuery}`;
  try {
    return await fetch(url, {
      method: request.method,
      headers: { accept: 'application/fhir+json', ...request.headers },
      ...(request.body === undefined
        ? {}
        : { body: typeof request.body === 'string' ? request.body : new Uint8Array(request.body) }),
      signal: AbortSignal.timeout(target.timeoutMs),
      redirect: 'manual',
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'TimeoutError') {
      throw new UpstreamError(
        504,
        `The FHIR server at ${target.fhirBaseUrl} did not respond within ${target.timeoutMs} ms; check that it is running and not overloaded.`,
        { cause: err }
      );
    }
    throw new UpstreamError(
      502,
      `The FHIR server at ${target.fhirBaseUrl} is unreachable; check FHIR_BASE_URL and that the server is running.`,
      { cause: err }
    );
  }
}

/**
 * Sends a request and parses a JSON body.
 * @returns The status and the parsed resource, or undefined for an empty or non-JSON body.
 */
export async function sendUpstreamJson(
  target: UpstreamTarget,
  request: UpstreamRequest
): Promise<{ response: Response; resource: Resource | undefined }> {
  const response = await sendUpstream(target, request);
  const text = await response.text();
  if (text === '' || !/json/.test(response.headers.get('content-type') ?? '')) {
    return { response, resource: undefined };
  }
  return { response, resource: JSON.parse(text) as Resource };
}

/**
 * Rewrites an absolute URL under the FHIR server's base to the proxy's public base; other URLs, relative
 * references included, are returned unchanged.
 */
export function rewriteUrl(url: string, target: UpstreamTarget): string {
  const base = target.fhirBaseUrl;
  if (url === base || url.startsWith(`${base}/`) || url.startsWith(`${base}?`)) {
    return `${target.publicBaseUrl}${url.slice(base.length)}`;
  }
  return url;
}

/**
 * Rewrites the FHIR server's base URL in a response body: Bundle links, `fullUrl` and
 * `response.location` of each entry, also in Bundles nested as entry resources. References inside
 * resources are relative on HAPI, so they need no change.
 */
export function rewriteBody(resource: Resource, target: UpstreamTarget): void {
  if (resource.resourceType !== 'Bundle') {
    return;
  }
  const bundle = resource;
  for (const link of bundle.link ?? []) {
    link.url = rewriteUrl(link.url, target);
  }
  for (const entry of bundle.entry ?? []) {
    if (entry.fullUrl !== undefined) {
      entry.fullUrl = rewriteUrl(entry.fullUrl, target);
    }
    if (entry.response?.location !== undefined) {
      entry.response.location = rewriteUrl(entry.response.location, target);
    }
    if (entry.resource !== undefined) {
      rewriteBody(entry.resource, target);
    }
  }
}
