/**
 * Configuration of the SMART-on-FHIR endpoint, read from the environment. An OpenID Connect issuer URL is
 * all it needs: the JWKS URL and the OAuth endpoints are discovered from the issuer's
 * `.well-known/openid-configuration` (OpenID Connect Discovery 1.0) unless set explicitly.
 */
import { ConfigError } from '@monitormed/common';

/** Settings of bearer-token checks and of `.well-known/smart-configuration`. */
export interface SmartConfig {
  /** Expected `iss` of access tokens (SMART_ISSUER). Unset: every protected request gets 401. */
  issuer: string | undefined;
  /** JWKS of the issuer (SMART_JWKS_URL); default: `jwks_uri` from the issuer's discovery document. */
  jwksUrl: string | undefined;
  /** Expected `aud` (SMART_AUDIENCE); default: the public base URL of this service's `/fhir` endpoint. */
  audience: string | undefined;
  /** OAuth authorize URL (SMART_AUTHORIZATION_ENDPOINT); default: from discovery. */
  authorizationEndpoint: string | undefined;
  /** OAuth token URL (SMART_TOKEN_ENDPOINT); default: from discovery. */
  tokenEndpoint: string | undefined;
  /** Allowed difference between our clock and the issuer's for `exp` and `nbf`, in seconds (SMART_CLOCK_TOLERANCE_S). */
  clockToleranceS: number;
  /** SMART capabilities published in smart-configuration (SMART_CAPABILITIES, space-separated). */
  capabilities: string[];
  /**
   * Minimum time between two JWKS fetches, in milliseconds (SMART_JWKS_COOLDOWN_MS, default 30 000). A token
   * signed with a new key is rejected until this time has passed since the last fetch.
   */
  jwksCooldownMs: number;
  /**
   * Browser origins allowed to call the FHIR endpoint with CORS (SMART_ALLOWED_ORIGINS, space-separated).
   * Empty: only the SMART app's origin, from SMART_APP_URL.
   */
  allowedOrigins: string[];
}

/** Capabilities of SMART App Launch 2.2 that this endpoint and the planned authorization server support. */
export const DEFAULT_SMART_CAPABILITIES = [
  'launch-ehr',
  'launch-standalone',
  'client-public',
  'client-confidential-asymmetric',
  'context-ehr-patient',
  'context-standalone-patient',
  'permission-patient',
  'permission-user',
  'permission-v1',
  'permission-v2',
  'sso-openid-connect',
];

type Env = Record<string, string | undefined>;

function readOptionalUrl(env: Env, name: string): string | undefined {
  const value = env[name];
  if (value === undefined || value === '') {
    return undefined;
  }
  try {
    new URL(value);
  } catch {
    throw new ConfigError(
      `Invalid ${name}="${value}": expected an absolute URL such as https://auth.example.org.`
    );
  }
  return value;
}

/**
 * Reads the SMART settings from `env` (by default `process.env`).
 * @throws ConfigError when a URL or the clock tolerance is invalid.
 */
export function loadSmartConfig(env: Env = process.env): SmartConfig {
  const toleranceText = env['SMART_CLOCK_TOLERANCE_S'];
  const clockToleranceS = toleranceText === undefined || toleranceText === '' ? 30 : Number(toleranceText);
  if (!Number.isInteger(clockToleranceS) || clockToleranceS < 0 || clockToleranceS > 300) {
    throw new ConfigError(
      `Invalid SMART_CLOCK_TOLERANCE_S="${toleranceText ?? ''}": expected whole seconds from 0 to 300.`
    );
  }

  const cooldownText = env['SMART_JWKS_COOLDOWN_MS'];
  const jwksCooldownMs = cooldownText === undefined || cooldownText === '' ? 30_000 : Number(cooldownText);
  if (!Number.isInteger(jwksCooldownMs) || jwksCooldownMs < 0) {
    throw new ConfigError(
      `Invalid SMART_JWKS_COOLDOWN_MS="${cooldownText ?? ''}": expected whole milliseconds.`
    );
  }

  const origins = env['SMART_ALLOWED_ORIGINS'];
  const allowedOrigins = origins === undefined || origins.trim() === '' ? [] : origins.trim().split(/\s+/);
  for (const origin of allowedOrigins) {
    if (!/^https?:\/\/[^/]+$/.test(origin)) {
      throw new ConfigError(
        `Invalid origin "${origin}" in SMART_ALLOWED_ORIGINS: expected scheme, host and port only, such as https://app.example.org.`
      );
    }
  }

  const capabilities = env['SMART_CAPABILITIES'];
  // The issuer identifier is compared with `iss` exactly (RFC 9068 section 4), so no trailing slash is removed.
  return {
    issuer: readOptionalUrl(env, 'SMART_ISSUER'),
    jwksUrl: readOptionalUrl(env, 'SMART_JWKS_URL'),
    audience: readOptionalUrl(env, 'SMART_AUDIENCE'),
    authorizationEndpoint: readOptionalUrl(env, 'SMART_AUTHORIZATION_ENDPOINT'),
    tokenEndpoint: readOptionalUrl(env, 'SMART_TOKEN_ENDPOINT'),
    clockToleranceS,
    capabilities:
      capabilities === undefined || capabilities.trim() === ''
        ? DEFAULT_SMART_CAPABILITIES
        : capabilities.trim().split(/\s+/),
    jwksCooldownMs,
    allowedOrigins,
  };
}

/** The fields of an OpenID Connect discovery document that this service uses. */
export interface IssuerMetadata {
  issuer: string;
  jwks_uri?: string;
  authorization_endpoint?: string;
  token_endpoint?: string;
  scopes_supported?: string[];
  grant_types_supported?: string[];
  response_types_supported?: string[];
  code_challenge_methods_supported?: string[];
  revocation_endpoint?: string;
  introspection_endpoint?: string;
  registration_endpoint?: string;
}

/**
 * Fetches `<issuer>/.well-known/openid-configuration` and checks that it names the same issuer.
 * @param issuer - The configured issuer URL.
 * @param timeoutMs - Time limit of the request.
 * @throws Error with the URL and the reason when the document is unreachable or invalid.
 */
export async function fetchIssuerMetadata(issuer: string, timeoutMs: number): Promise<IssuerMetadata> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const response = await fetch(url, {
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!response.ok) {
    throw new Error(`GET ${url} returned HTTP ${response.status}.`);
  }

  const metadata = (await response.json()) as Partial<IssuerMetadata>;
  if (metadata.issuer !== issuer) {
    // OpenID Connect Discovery 1.0 section 4.3: the issuer in the document must equal the one requested.
    throw new Error(`${url} names issuer ${String(metadata.issuer)}, not ${issuer}.`);
  }
  return metadata as IssuerMetadata;
}
