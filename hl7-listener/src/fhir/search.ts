/**
 * Escapes a search parameter value: FHIR search treats `\`, `|`, `,` and `$` as special, so each is
 * escaped with `\` (https://hl7.org/fhir/R4/search.html#escaping).
 */
export function escapeSearchValue(value: string): string {
  return value.replace(/[\\|,$]/g, (char) => `\\${char}`);
}

/**
 * Builds a URL-encoded token query value `system|value` for `ifNoneExist` and match URLs.
 * @returns For example `urn%3Aoid%3A1.2.3|A\|1` with the value escaped, then both parts URL-encoded.
 */
export function tokenSearchValue(system: string, value: string): string {
  return `${encodeURIComponent(escapeSearchValue(system))}|${encodeURIComponent(escapeSearchValue(value))}`;
}
