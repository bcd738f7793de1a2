/**
 * Settings of the SMART authorization server, read from the environment. Every default fits the local
 * stack on loopback: the app at SMART_APP_URL (8082) reading FHIR through its `/fhir` relay.
 */
import { ConfigError, loadConfig, portOf } from '@monitormed/common';

/** Settings of {@link startAuthServer}. */
export interface AuthServerConfig {
  /** Issuer URL and bind address (AUTH_SERVER_URL, default `http://127.0.0.1:8083`). */
  issuer: string;
  /** Host the server binds to: AUTH_SERVER_HOST, else the host of the issuer. */
  host: string;
  port: number;
  /** Client id of the SMART app (SMART_APP_CLIENT_ID). */
  clientId: string;
  /** Redirect URIs registered for the app (SMART_APP_REDIRECT_URIS, space-separated). */
  redirectUris: string[];
  /** Launch URL of the app that the EHR simulator opens (SMART_APP_LAUNCH_URL). */
  launchUrl: string;
  /**
   * FHIR base URLs that tokens may be issued for (AUTH_FHIR_AUDIENCES, space-separated). The SMART `aud`
   * request parameter must be one of them, and it becomes the access token's `aud`.
   */
  fhirAudiences: string[];
  /** The FHIR server where the test user's Practitioner and the patient picker's Patients live. */
  fhirBaseUrl: string;
  /** Lifetime of access tokens in seconds (AUTH_ACCESS_TOKEN_TTL_S). */
  accessTokenTtlS: number;
  /** Password of the test user `clinician` (AUTH_TEST_USER_PASSWORD). */
  testUserPassword: string;
}

type Env = Record<string, string | undefined>;

/** Default lifetime of access tokens: 5 minutes, so refresh is exercised in a normal session. */
export const DEFAULT_ACCESS_TOKEN_TTL_S = 300;

/** Default password of the synthetic test user; the server is meant for tests and local demos. */
export const DEFAULT_TEST_USER_PASSWORD = 'monitormed-demo';

function readUrl(env: Env, name: string, fallback: string): string {
  const value = env[name];
  if (value === undefined || value === '') {
    return fallback;
  }
  let protocol = '';
  try {
    protocol = new URL(value).protocol;
  } catch {
    // Reported below.
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new ConfigError(
      `Invalid ${name}="${value}": expected an absolute http(s) URL such as ${fallback}.`
    );
  }
  return value.replace(/\/+$/, '');
}

function readUrlList(env: Env, name: string, fallback: string[]): string[] {
  const value = env[name]?.trim();
  if (value === undefined || value === '') {
    return fallback;
  }
  return value.split(/\s+/).map((item) => readUrl({ [name]: item }, name, fallback[0] ?? ''));
}

/**
 * Reads the authorization server settings.
 * @param env - Environment variables, by default `process.env`.
 * @throws ConfigError (from @monitormed/common) for an invalid URL or token lifetime.
 */
export function loadAuthServerConfig(env: Env = process.env): AuthServerConfig {
  const config = loadConfig(env);
  const issuer = readUrl(env, 'AUTH_SERVER_URL', 'http://127.0.0.1:8083');
  const appUrl = config.smartAppUrl.replace(/\/+$/, '');

  const ttlText = env['AUTH_ACCESS_TOKEN_TTL_S'];
  const accessTokenTtlS =
    ttlText === undefined || ttlText === '' ? DEFAULT_ACCESS_TOKEN_TTL_S : Number(ttlText);
  if (!Number.isInteger(accessTokenTtlS) || accessTokenTtlS < 1 || accessTokenTtlS > 86_400) {
    throw new ConfigError(
      `Invalid AUTH_ACCESS_TOKEN_TTL_S="${ttlText ?? ''}": expected whole seconds from 1 to 86400.`
    );
  }

  const hostOverride = env['AUTH_SERVER_HOST'];
  return {
    issuer,
    host:
      hostOverride !== undefined && hostOverride !== ''
        ? hostOverride
        : new URL(issuer).hostname.replace(/^\[|\]$/g, ''),
    port: portOf(issuer),
    clientId: env['SMART_APP_CLIENT_ID'] ?? 'monitormed-smart-app',
    redirectUris: readUrlList(env, 'SMART_APP_REDIRECT_URIS', [`${appUrl}/index.html`]),
    launchUrl: readUrl(env, 'SMART_APP_LAUNCH_URL', `${appUrl}/launch.html`),
    fhirAudiences: readUrlList(env, 'AUTH_FHIR_AUDIENCES', [`${appUrl}/fhir`]),
    fhirBaseUrl: config.fhirBaseUrl,
    accessTokenTtlS,
    testUserPassword: env['AUTH_TEST_USER_PASSWORD'] ?? DEFAULT_TEST_USER_PASSWORD,
  };
}
