import { ConfigError, loadConfig, portOf } from '@monitormed/common';

/** Settings of the SMART app server. */
export interface SmartAppConfig {
  /** Host the server binds to, from the host of `SMART_APP_URL`. */
  host: string;
  /** Port the server binds to, from `SMART_APP_URL` (8082 by default). */
  port: number;
  /** FHIR base URL that `/fhir` forwards to: `SMART_APP_FHIR_UPSTREAM`, else `FHIR_BASE_URL`. */
  fhirUpstreamUrl: string;
}

type Env = Record<string, string | undefined>;

function readUpstream(env: Env, fallback: string): string {
  const raw = env['SMART_APP_FHIR_UPSTREAM'];
  if (raw === undefined || raw === '') {
    return fallback;
  }

  let protocol: string;
  try {
    protocol = new URL(raw).protocol;
  } catch {
    protocol = '';
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new ConfigError(
      `Invalid SMART_APP_FHIR_UPSTREAM="${raw}": expected an absolute http(s) FHIR base URL such as ${fallback}.`
    );
  }
  return raw.replace(/\/+$/, '');
}

/**
 * Reads the SMART app settings from the environment.
 * @param env - Environment variables, by default `process.env`.
 * @returns The settings.
 * @throws ConfigError (from @monitormed/common) when a variable contains an invalid URL or port.
 */
export function loadSmartAppConfig(env: Env = process.env): SmartAppConfig {
  const config = loadConfig(env);
  // SMART_APP_HOST overrides the bind address, for example 0.0.0.0 inside a container.
  const hostOverride = env['SMART_APP_HOST'];
  return {
    // URL.hostname keeps the brackets of an IPv6 literal, which listen() does not accept.
    host:
      hostOverride !== undefined && hostOverride !== ''
        ? hostOverride
        : new URL(config.smartAppUrl).hostname.replace(/^\[|\]$/g, ''),
    port: portOf(config.smartAppUrl),
    fhirUpstreamUrl: readUpstream(env, config.fhirBaseUrl),
  };
}
