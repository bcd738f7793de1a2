import { ConfigError, loadConfig, type MonitorMedConfig } from '@monitormed/common';
import { DEFAULT_MAX_MESSAGE_BYTES } from './mllp/framing.js';

/** Handling of results that match no AI model in the catalog. */
export type NonAiResultsMode = 'pass' | 'ignore';

/** Settings of the HL7 listener: the shared configuration plus listener-only options. */
export interface ListenerConfig extends MonitorMedConfig {
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
    maxMessageBytes: readPositiveInteger(env, 'HL7_MAX_MESSAGE_BYTES', DEFAULT_MAX_MESSAGE_BYTES),
    idleTimeoutMs: readPositiveInteger(env, 'HL7_IDLE_TIMEOUT_MS', 5 * 60_000),
    closeGraceMs: readPositiveInteger(env, 'HL7_CLOSE_GRACE_MS', 5_000),
    createMissingPatients: readBoolean(env, 'HL7_CREATE_MISSING_PATIENTS', false),
    nonAiResults,
    patientIdentifierSystems: readSystems(env, 'HL7_PATIENT_ID_SYSTEMS'),
    defaultPatientIdentifierSystem:
      defaultSystem === undefined || defaultSystem === '' ? undefined : defaultSystem,
  };
}
