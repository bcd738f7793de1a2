/**
 * Typed configuration read from environment variables, with defaults that match the local test peers
 * (see `peers/README.md`). Every service reads the same names, so one `.env` configures the whole stack.
 */

/** Settings every MonitorMed service shares. */
export interface MonitorMedConfig {
  /** Host the MLLP listener binds to. */
  mllpHost: string;
  /** TCP port of the MLLP listener (2575 is the IANA port for HL7 over MLLP). */
  mllpPort: number;
  /** Base URL of the FHIR R4 server that stores results, for example HAPI FHIR JPA. */
  fhirBaseUrl: string;
  /** MongoDB connection string; FerretDB speaks the same wire protocol. */
  mongoUrl: string;
  /** Database name inside MongoDB. */
  mongoDatabase: string;
  /** Redis connection string for the bull queues. */
  redisUrl: string;
  /** Public base URL of fhir-server-ext, which HAPI calls back for rest-hook deliveries. */
  fhirServerExtUrl: string;
  /** Public base URL of the SMART app. */
  smartAppUrl: string;
  /** Shared secret HAPI sends in a header with every subscription delivery. */
  subscriptionSecret: string;
  /** IANA time zone of the facility, used for HL7 timestamps that carry no offset. */
  facilityTimeZone: string;
  /** pino log level. */
  logLevel: string;
}

/** Thrown when an environment variable contains a value the service cannot use. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function readString(env: Env, name: string, fallback: string): string {
  const value = env[name];
  return value === undefined || value === '' ? fallback : value;
}

function readPort(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }

  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(`Invalid ${name}="${raw}": expected a TCP port from 1 to 65535.`);
  }
  return port;
}

function readUrl(env: Env, name: string, fallback: string): string {
  const value = readString(env, name, fallback);
  try {
    new URL(value);
  } catch {
    throw new ConfigError(`Invalid ${name}="${value}": expected an absolute URL such as ${fallback}.`);
  }
  return value.replace(/\/+$/, '');
}

/**
 * Reads the configuration from `env` (by default `process.env`).
 * @param env - Environment variables to read.
 * @returns The configuration with defaults filled in.
 * @throws ConfigError when a variable is set to an unusable value.
 */
export function loadConfig(env: Env = process.env): MonitorMedConfig {
  return {
    mllpHost: readString(env, 'MLLP_HOST', '127.0.0.1'),
    mllpPort: readPort(env, 'MLLP_PORT', 2575),
    fhirBaseUrl: readUrl(env, 'FHIR_BASE_URL', 'http://127.0.0.1:8080/fhir'),
    mongoUrl: readString(env, 'MONGO_URL', 'mongodb://127.0.0.1:27017'),
    mongoDatabase: readString(env, 'MONGO_DATABASE', 'monitormed'),
    redisUrl: readString(env, 'REDIS_URL', 'redis://127.0.0.1:6379'),
    fhirServerExtUrl: readUrl(env, 'FHIR_SERVER_EXT_URL', 'http://127.0.0.1:8081'),
    smartAppUrl: readUrl(env, 'SMART_APP_URL', 'http://127.0.0.1:8082'),
    subscriptionSecret: readString(env, 'SUBSCRIPTION_SECRET', 'monitormed-local-secret'),
    facilityTimeZone: readString(env, 'FACILITY_TIME_ZONE', 'UTC'),
    logLevel: readString(env, 'LOG_LEVEL', 'info'),
  };
}

/**
 * Returns the TCP port of a URL, filling in the scheme's default port.
 * @param url - An absolute http or https URL.
 * @returns The port number.
 */
export function portOf(url: string): number {
  const parsed = new URL(url);
  if (parsed.port !== '') {
    return Number(parsed.port);
  }
  return parsed.protocol === 'https:' ? 443 : 80;
}
