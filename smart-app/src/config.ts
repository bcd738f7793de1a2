import { ConfigError, loadConfig, portOf } from '@monitormed/common';

/**
 * Scopes common to both launches: the user's identity, a refresh token, read access to the data shown,
 * `user/DiagnosticReport.cu` because `$compliance-report` stores its report with a conditional update, and
 * `patient/Flag.u` because `Flag/{id}/$respond` records a clinician's response on the Flag.
 */
const DATA_SCOPES =
  'openid fhirUser offline_access patient/Patient.rs patient/Observation.rs patient/Flag.rus user/Device.rs user/DiagnosticReport.cu';

/** SMART v2 scopes requested in an EHR launch: `launch` takes the patient from the EHR's context. */
export const EHR_LAUNCH_SCOPE = `launch ${DATA_SCOPES}`;

/** SMART v2 scopes requested in a standalone launch: `launch/patient` requests a patient picker. */
export const STANDALONE_LAUNCH_SCOPE = `launch/patient ${DATA_SCOPES}`;

/**
 * SMART v2 scopes of a launch for the model views only, as a compliance officer or insurer opens the app:
 * user-level access to the model Devices and the compliance reports, and no patient scope or patient
 * context.
 */
export const MODELS_LAUNCH_SCOPE = 'openid fhirUser offline_access user/Device.rs user/DiagnosticReport.cu';

/** Settings of the SMART app server. */
export interface SmartAppConfig {
  /** Host the server binds to, from the host of `SMART_APP_URL`. */
  host: string;
  /** Port the server binds to, from `SMART_APP_URL` (8082 by default). */
  port: number;
  /**
   * FHIR base URL that `/fhir` forwards to: `SMART_APP_FHIR_UPSTREAM`, else the SMART-secured endpoint
   * of fhir-server-ext (`FHIR_SERVER_EXT_URL` + `/fhir`).
   */
  fhirUpstreamUrl: string;
  /** OAuth client id registered with the authorization server (SMART_APP_CLIENT_ID). */
  clientId: string;
  /**
   * FHIR base URL of a standalone launch without `iss` (SMART_APP_DEFAULT_ISS); undefined means the
   * app's own `/fhir` relay.
   */
  defaultIss: string | undefined;
  /** Further FHIR base URLs accepted as `iss` (SMART_APP_ALLOWED_ISS, space-separated). */
  extraAllowedIss: string[];
}

type Env = Record<string, string | undefined>;

function readUpstream(env: Env, fallback: string, name = 'SMART_APP_FHIR_UPSTREAM'): string {
  const raw = env[name];
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
      `Invalid ${name}="${raw}": expected an absolute http(s) FHIR base URL such as ${fallback}.`
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
    fhirUpstreamUrl: readUpstream(env, `${config.fhirServerExtUrl.replace(/\/+$/, '')}/fhir`),
    clientId: env['SMART_APP_CLIENT_ID'] ?? 'monitormed-smart-app',
    defaultIss:
      env['SMART_APP_DEFAULT_ISS'] === undefined || env['SMART_APP_DEFAULT_ISS'] === ''
        ? undefined
        : readUpstream(env, 'http://127.0.0.1:8082/fhir', 'SMART_APP_DEFAULT_ISS'),
    extraAllowedIss: (env['SMART_APP_ALLOWED_ISS'] ?? '')
      .split(/\s+/)
      .filter((item) => item !== '')
      .map((item) => readUpstream({ SMART_APP_ALLOWED_ISS: item }, item, 'SMART_APP_ALLOWED_ISS')),
  };
}
