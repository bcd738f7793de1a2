/**
 * Rewrites the absolute URLs of a relayed search Bundle from the upstream FHIR base to the app's own
 * `/fhir` base. fhir-server-ext writes its own base into `link` (such as `next`) and `fullUrl`, and the
 * browser can only reach that server through the app's relay, so without the rewrite a client that pages
 * through a search would leave the relay.
 */

function rebase(url: string, fromBase: string, toBase: string): string {
  if (url === fromBase || url.startsWith(`${fromBase}/`) || url.startsWith(`${fromBase}?`)) {
    return `${toBase}${url.slice(fromBase.length)}`;
  }
  return url;
}

interface BundleLike {
  resourceType?: unknown;
  link?: { url?: unknown }[];
  entry?: { fullUrl?: unknown }[];
}

/**
 * Rebases the Bundle links and entry `fullUrl`s in a response body.
 * @param body - The response body as text.
 * @param fromBase - FHIR base URL of the upstream, without a trailing slash.
 * @param toBase - The app's public FHIR base URL, without a trailing slash.
 * @returns The rewritten body, or `body` itself when it is not a JSON Bundle.
 */
export function rebaseBundleLinks(body: string, fromBase: string, toBase: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return body;
  }
  if (typeof parsed !== 'object' || parsed === null || (parsed as BundleLike).resourceType !== 'Bundle') {
    return body;
  }

  const bundle = parsed as BundleLike;
  for (const link of bundle.link ?? []) {
    if (typeof link.url === 'string') {
      link.url = rebase(link.url, fromBase, toBase);
    }
  }
  for (const entry of bundle.entry ?? []) {
    if (typeof entry.fullUrl === 'string') {
      entry.fullUrl = rebase(entry.fullUrl, fromBase, toBase);
    }
  }
  return JSON.stringify(bundle);
}
