import { ConfigError, loadConfig, type MonitorMedConfig } from '@monitormed/common';
import { DEFAULT_MAX_MESSAGE_BYTES } from './mllp/framing.js';
import { loadPipelineConfig, type PipelineConfig } from './pipeline/pipeline-config.js';
import { DEFAULT_MAX_CONNECTIONS } from './mllp/server.js';
import type { MllpTlsFiles } from './mllp/tls.js';

/** Handling of results that match no AI model in the catalog. */
export type NonAiResultsMode = 'pass' | 'ignore';

/** Settings of the HL7 listener: the shared configuration plus listener-only options. */
export interface ListenerConfig extends MonitorMedConfig, PipelineConfig {
  /** Largest accepted message in bytes (env `HL7_MAX_MESSAGE_BYTES`, default 1 MiB). */
  maxMessageBytes: number;
  /** Idle time after which a connection is closed (env `HL7_IDLE_TIMEOUT_MS`, default 5 minutes). */
  idleTimeoutMs: number;
  /** How long shutdown waits for messages in flight (env `HL7_CLOSE_GRACE_MS`, default 5 s). */
  closeGraceMs: number;
  /** Create a Patient (identifier, gender, birth date) when PID-3 matches none (env `HL7_CREATE_MISSING_PATIENTS`). */
  createMissingPatients: boolean;
  /** `pass` writes non-AI results unlabelled, `ignore` skips them (env `HL7_NON_AI_RESULTS`). */
  nonAiResults: NonAiResultsMode;
  /** PID-3.4 assigning authority namespace to identifier system (env `HL7_PATIENT_ID_SYSTEMS`, a JSON object). */
  patientIdentifierSystems: Record<string, string>;
  /**
   * Identifier system for PID-3 values without an assigning authority (env `HL7_DEFAULT_PATIENT_ID_SYSTEM`).
   * Unset by default, so such messages get AE: matching bare record numbers across senders is unsafe.
   */
  defaultPatientIdentifierSystem: string | undefined;
  /** TLS on the MLLP port (env `HL7_TLS_*`); undefined means plain TCP. */
  tls: MllpTlsFiles | undefined;
  /** Open MLLP connections allowed at once (env `HL7_MAX_CONNECTIONS`, default 100). */
  maxConnections: number;
  /** Address of the operations HTTP server with /metrics and /health (env `HL7_HTTP_HOST`, default 127.0.0.1). */
  httpHost: string;
  /** Port of the operations HTTP server (env `HL7_HTTP_PORT`, default 2576; 0 picks a free port). */
  httpPort: number;
}

type Env = Record<string, string | undefined>;

function readBoolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  if (raw === 'true' || raw === '1') {
    return true;
  }
  if (raw === 'false' || raw === '0') {
    return false;
  }
  throw new ConfigError(`Invalid ${name}="${raw}": expected true or false.`);
}

function readPositiveInteger(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(`Invalid ${name}="${raw}": expected a positive integer.`);
  }
  return value;
}

function readPortOrZero(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new ConfigError(`Invalid ${name}="${raw}": expected a TCP port from 0 to 65535.`);
  }
  return value;
}

function readTlsFiles(env: Env): MllpTlsFiles | undefined {
  const certFile = env['HL7_TLS_CERT_FILE'] ?? '';
  const keyFile = env['HL7_TLS_KEY_FILE'] ?? '';
  const caFile = env['HL7_TLS_CA_FILE'] ?? '';
  const requireClientCert = readBoolean(env, 'HL7_TLS_REQUIRE_CLIENT_CERT', false);
  if (certFile === '' && keyFile === '') {
    if (caFile !== '' || requireClientCert) {
      throw new ConfigError(
        'HL7_TLS_CA_FILE and HL7_TLS_REQUIRE_CLIENT_CERT need TLS: set HL7_TLS_CERT_FILE and HL7_TLS_KEY_FILE too.'
      );
    }
    return undefined;
  }
  if (certFile === '' || keyFile === '') {
    throw new ConfigError(
      `TLS needs both HL7_TLS_CERT_FILE and HL7_TLS_KEY_FILE; ${certFile === '' ? 'HL7_TLS_CERT_FILE' : 'HL7_TLS_KEY_FILE'} is missing.`
    );
  }
  return { certFile, keyFile, ...(caFile === '' ? {} : { caFile }), requireClientCert };
}

function readSystems(env: Env, name: string): Record<string, string> {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    return {};
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(`Invalid ${name}: expected a JSON object such as {"HOSP":"urn:oid:1.2.3"}.`);
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    Array.isArray(parsed) ||
    Object.values(parsed).some((v) => typeof v !== 'string')
  ) {
    throw new ConfigError(`Invalid ${name}: expected a JSON object of namespace to system URI strings.`);
  }
  return parsed as Record<string, string>;
}

/**
 * Reads the listener configuration from environment variables.
 * @param env - Environment variables, by default `process.env`.
 * @returns The configuration with defaults filled in.
 * @throws ConfigError when a variable contains an unusable value.
 */
export function loadListenerConfig(env: Env = process.env): ListenerConfig {
  const nonAiResults = env['HL7_NON_AI_RESULTS'] ?? 'pass';
  if (nonAiResults !== 'pass' && nonAiResults !== 'ignore') {
    throw new ConfigError(`Invalid HL7_NON_AI_RESULTS="${nonAiResults}": expected pass or ignore.`);
  }
  const defaultSystem = env['HL7_DEFAULT_PATIENT_ID_SYSTEM'];

  return {
    ...loadConfig(env),
    ...loadPipelineConfig(env),
    maxMessageBytes: readPositiveInteger(env, 'HL7_MAX_MESSAGE_BYTES', DEFAULT_MAX_MESSAGE_BYTES),
    idleTimeoutMs: readPositiveInteger(env, 'HL7_IDLE_TIMEOUT_MS', 5 * 60_000),
    closeGraceMs: readPositiveInteger(env, 'HL7_CLOSE_GRACE_MS', 5_000),
    createMissingPatients: readBoolean(env, 'HL7_CREATE_MISSING_PATIENTS', false),
    nonAiResults,
    patientIdentifierSystems: readSystems(env, 'HL7_PATIENT_ID_SYSTEMS'),
    defaultPatientIdentifierSystem:
      defaultSystem === undefined || defaultSystem === '' ? undefined : defaultSystem,
    tls: readTlsFiles(env),
    maxConnections: readPositiveInteger(env, 'HL7_MAX_CONNECTIONS', DEFAULT_MAX_CONNECTIONS),
    httpHost:
      env['HL7_HTTP_HOST'] === undefined || env['HL7_HTTP_HOST'] === '' ? '127.0.0.1' : env['HL7_HTTP_HOST'],
    httpPort: readPortOrZero(env, 'HL7_HTTP_PORT', 2576),
  };
}
