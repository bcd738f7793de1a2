/** Settings of the CDS Hooks service, read from environment variables. */
import { ConfigError, type MonitorMedConfig } from '@monitormed/common';

/** A CDS client (an EHR) this service trusts, identified by the `iss` of its JWTs. */
export interface TrustedCdsClient {
  /** Exact `iss` claim of the client's JWTs. */
  iss: string;
  /** JWK Set URL of the client's public keys, used when a JWT carries no `jku` header. */
  jwksUrl: string;
  /**
   * JWK Set URLs accepted in the `jku` header, besides `jwksUrl`. A `jku` outside this list is rejected,
   * because following any URL a token names would let its sender choose the key that verifies it.
   */
  jkuUrls: string[];
}

/** Settings of the CDS Hooks endpoints. */
export interface CdsHooksSettings {
  /** Trusted clients (CDS_CLIENTS, a JSON array of `{ "iss", "jwksUrl", "jkuUrls"? }`). Empty rejects every call. */
  clients: TrustedCdsClient[];
  /**
   * FHIR server base URLs the service may call when a request names one in `fhirServer`
   * (CDS_FHIR_SERVERS, comma-separated; default FHIR_BASE_URL).
   */
  fhirServers: string[];
  /**
   * Public base URL of this service, whose `/cds-services/{id}` URLs JWTs must name in `aud`
   * (CDS_SERVICE_BASE_URL). Undefined means the server's own URL, as for the Subscription endpoint.
   */
  serviceBaseUrl: string | undefined;
  /** SMART App Launch URL of the MonitorMed app, for card links (CDS_SMART_LAUNCH_URL; default SMART_APP_URL + `/launch`). */
  smartLaunchUrl: string;
  /** Maximum JWT age by its `iat`, in seconds (CDS_JWT_MAX_AGE_SECONDS; default 300). */
  jwtMaxAgeSeconds: number;
  /** Allowed clock difference with clients when checking `exp` and `iat`, in seconds (default 30). */
  clockToleranceSeconds: number;
  /** Time limit of one FHIR server or JWK Set request, in milliseconds (CDS_FHIR_TIMEOUT_MS; default 5 000). */
  fetchTimeoutMs: number;
}

type Env = Record<string, string | undefined>;

/**
 * Removes trailing slashes, so that configured and received URLs compare equal.
 * @param url - An absolute URL.
 */
export function normalizeUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

function parseAbsoluteUrl(value: unknown, where: string): string {
  if (typeof value !== 'string') {
    throw new ConfigError(
      `Invalid ${where}: expected an absolute http or https URL, got ${JSON.stringify(value)}.`
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(`Invalid ${where}="${value}": expected an absolute http or https URL.`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(`Invalid ${where}="${value}": only http and https URLs are allowed.`);
  }
  return normalizeUrl(value);
}

function parseClients(raw: string | undefined): TrustedCdsClient[] {
  if (raw === undefined || raw.trim() === '') {
    return [];
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new ConfigError(`Invalid CDS_CLIENTS: not JSON (${(err as Error).message}).`);
  }
  if (!Array.isArray(parsed)) {
    throw new ConfigError('Invalid CDS_CLIENTS: expected a JSON array of { "iss", "jwksUrl" } objects.');
  }

  return parsed.map((entry: unknown, index) => {
    const client = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    const iss = client['iss'];
    if (typeof iss !== 'string' || iss === '') {
      throw new ConfigError(`Invalid CDS_CLIENTS[${index}]: "iss" must be a non-empty string.`);
    }
    const jwksUrl = parseAbsoluteUrl(client['jwksUrl'], `CDS_CLIENTS[${index}].jwksUrl`);
    const jkuRaw = client['jkuUrls'] ?? [];
    if (!Array.isArray(jkuRaw)) {
      throw new ConfigError(`Invalid CDS_CLIENTS[${index}].jkuUrls: expected an array of URLs.`);
    }
    const jkuUrls = jkuRaw.map((url: unknown, urlIndex) =>
      parseAbsoluteUrl(url, `CDS_CLIENTS[${index}].jkuUrls[${urlIndex}]`)
    );
    return { iss, jwksUrl, jkuUrls };
  });
}

function readPositiveInteger(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(`Invalid ${name}="${raw}": expected a whole number of at least 1.`);
  }
  return value;
}

/**
 * Reads the CDS Hooks settings from `env`, with defaults from `config`.
 * @param config - The shared configuration (FHIR base URL, SMART app URL).
 * @param env - Environment variables, by default `process.env`.
 * @returns The settings.
 * @throws ConfigError when a variable is set to an unusable value.
 */
export function loadCdsHooksSettings(
  config: Pick<MonitorMedConfig, 'fhirBaseUrl' | 'smartAppUrl'>,
  env: Env = process.env
): CdsHooksSettings {
  const serversRaw = env['CDS_FHIR_SERVERS'];
  const fhirServers =
    serversRaw === undefined || serversRaw.trim() === ''
      ? [normalizeUrl(config.fhirBaseUrl)]
      : serversRaw.split(',').map((url, index) => parseAbsoluteUrl(url.trim(), `CDS_FHIR_SERVERS[${index}]`));

  const baseRaw = env['CDS_SERVICE_BASE_URL'];
  const launchRaw = env['CDS_SMART_LAUNCH_URL'];

  return {
    clients: parseClients(env['CDS_CLIENTS']),
    fhirServers,
    serviceBaseUrl:
      baseRaw === undefined || baseRaw === '' ? undefined : parseAbsoluteUrl(baseRaw, 'CDS_SERVICE_BASE_URL'),
    smartLaunchUrl:
      launchRaw === undefined || launchRaw === ''
        ? `${normalizeUrl(config.smartAppUrl)}/launch`
        : parseAbsoluteUrl(launchRaw, 'CDS_SMART_LAUNCH_URL'),
    jwtMaxAgeSeconds: readPositiveInteger(env, 'CDS_JWT_MAX_AGE_SECONDS', 300),
    clockToleranceSeconds: 30,
    fetchTimeoutMs: readPositiveInteger(env, 'CDS_FHIR_TIMEOUT_MS', 5_000),
  };
}
