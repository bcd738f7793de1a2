import { ConfigError } from '@monitormed/common';
import { loadChannels, type ChannelConfig } from '../channels/channels.js';

/** Settings of durable accept, background processing, retries and ACK modes. */
export interface PipelineConfig {
  /** FHIR transactions in flight at once (env `HL7_PROCESSING_CONCURRENCY`, default 4). */
  processingConcurrency: number;
  /**
   * Messages of different patients written in one FHIR transaction (env `HL7_FHIR_BATCH_SIZE`, default 10).
   * 1 writes each message on its own.
   */
  fhirBatchSize: number;
  /**
   * How long an original-mode ACK waits for processing into FHIR (env `HL7_ORIGINAL_ACK_WAIT_MS`, default
   * 10 s). After it the ACK is AE saying the message is stored and will be retried.
   */
  originalAckWaitMs: number;
  /** Claim duration of a message being processed (env `HL7_LEASE_MS`, default 60 s); must exceed one FHIR write. */
  leaseMs: number;
  /** First retry delay after a transient failure (env `HL7_RETRY_BASE_MS`, default 1 s); it doubles per attempt. */
  retryBaseMs: number;
  /** Largest retry delay (env `HL7_RETRY_MAX_DELAY_MS`, default 5 minutes). */
  retryMaxDelayMs: number;
  /** Processing attempts before a message goes to the dead-letter store (env `HL7_MAX_ATTEMPTS`, default 12). */
  maxAttempts: number;
  /** Age after which a failing message is not retried again (env `HL7_MAX_RETRY_AGE_MS`, default 24 h). */
  maxRetryAgeMs: number;
  /** How often the store is polled for retries and for messages another listener accepted (env `HL7_POLL_INTERVAL_MS`, default 500 ms). */
  pollIntervalMs: number;
  /**
   * Accept rate from which processing yields to the accept path: enhanced- and immediate-mode messages
   * this process accepted over the last second (env `HL7_ACCEPT_PRIORITY_PER_S`, default 200, 0 for off).
   */
  acceptPriorityPerSecond: number;
  /** Channels in priority order (env `HL7_CHANNELS` or `HL7_CHANNELS_FILE`); empty means the default channel. */
  channels: ChannelConfig[];
}

type Env = Record<string, string | undefined>;

function readInteger(env: Env, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(`Invalid ${name}="${raw}": expected an integer of at least ${min}.`);
  }
  return value;
}

/**
 * Reads the pipeline settings from environment variables.
 * @throws ConfigError when a variable contains an unusable value.
 */
export function loadPipelineConfig(env: Env = process.env): PipelineConfig {
  return {
    processingConcurrency: readInteger(env, 'HL7_PROCESSING_CONCURRENCY', 4, 1),
    fhirBatchSize: readInteger(env, 'HL7_FHIR_BATCH_SIZE', 10, 1),
    originalAckWaitMs: readInteger(env, 'HL7_ORIGINAL_ACK_WAIT_MS', 10_000, 0),
    leaseMs: readInteger(env, 'HL7_LEASE_MS', 60_000, 100),
    retryBaseMs: readInteger(env, 'HL7_RETRY_BASE_MS', 1_000, 1),
    retryMaxDelayMs: readInteger(env, 'HL7_RETRY_MAX_DELAY_MS', 5 * 60_000, 1),
    maxAttempts: readInteger(env, 'HL7_MAX_ATTEMPTS', 12, 1),
    maxRetryAgeMs: readInteger(env, 'HL7_MAX_RETRY_AGE_MS', 24 * 60 * 60_000, 1),
    pollIntervalMs: readInteger(env, 'HL7_POLL_INTERVAL_MS', 500, 10),
    acceptPriorityPerSecond: readInteger(env, 'HL7_ACCEPT_PRIORITY_PER_S', 200, 0),
    channels: loadChannels(env),
  };
}
