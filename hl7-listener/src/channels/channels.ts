import { readFileSync } from 'node:fs';
import { ConfigError } from '@monitormed/common';

/**
 * Acknowledgment mode of a channel.
 * - `original`: one ACK (AA/AE/AR) after processing into FHIR, unless MSH-15/MSH-16 ask for enhanced mode.
 * - `enhanced`: an accept ACK (CA/CE/CR) once stored, then an application ACK after processing.
 * - `immediate`: AA as soon as the bytes are stored, before parsing; errors go to the dead-letter store.
 */
export type AckModeSetting = 'original' | 'enhanced' | 'immediate';

/**
 * Handling of a message whose sending facility and MSH-10 are already stored with different bytes.
 * - `reject`: AR (CR in enhanced mode) with ERR-3 205, duplicate key identifier.
 * - `correction`: processed as a new version that updates the FHIR resources of the earlier one.
 */
export type DuplicatePolicy = 'reject' | 'correction';

/** A channel: the senders it matches and how their messages are acknowledged. */
export interface ChannelConfig {
  name: string;
  /** Pattern for MSH-3.1; `*` matches any run of characters. Absent matches any sender. */
  sendingApplication?: string;
  /** Pattern for MSH-4.1; `*` matches any run of characters. Absent matches any facility. */
  sendingFacility?: string;
  ackMode: AckModeSetting;
  duplicatePolicy: DuplicatePolicy;
  /** `host:port` an enhanced-mode application ACK is sent to over MLLP when its connection has closed. */
  returnAddress?: { host: string; port: number };
}

/** Channel used when no configured channel matches. */
export const DEFAULT_CHANNEL: ChannelConfig = {
  name: 'default',
  ackMode: 'original',
  duplicatePolicy: 'reject',
};

const ACK_MODES = new Set<string>(['original', 'enhanced', 'immediate']);
const DUPLICATE_POLICIES = new Set<string>(['reject', 'correction']);

function patternToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`, 'i');
}

function matches(pattern: string | undefined, value: string): boolean {
  return pattern === undefined || patternToRegExp(pattern).test(value);
}

/**
 * Finds the first channel whose patterns match the sender, or the default channel.
 * @param channels - Channels in priority order.
 * @param sendingApplication - MSH-3.1.
 * @param sendingFacility - MSH-4.1.
 */
export function matchChannel(
  channels: ChannelConfig[],
  sendingApplication: string,
  sendingFacility: string
): ChannelConfig {
  return (
    channels.find(
      (channel) =>
        matches(channel.sendingApplication, sendingApplication) &&
        matches(channel.sendingFacility, sendingFacility)
    ) ?? DEFAULT_CHANNEL
  );
}

function parseReturnAddress(value: unknown, where: string): { host: string; port: number } {
  const match = typeof value === 'string' ? /^(.+):(\d{1,5})$/.exec(value) : null;
  const port = Number(match?.[2]);
  if (match?.[1] === undefined || port < 1 || port > 65535) {
    throw new ConfigError(`${where}.returnAddress must be "host:port", for example "127.0.0.1:2577".`);
  }
  return { host: match[1], port };
}

function optionalString(entry: Record<string, unknown>, key: string, where: string): string | undefined {
  const value = entry[key];
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== 'string' || value === '') {
    throw new ConfigError(`${where}.${key} must be a non-empty string pattern.`);
  }
  return value;
}

/**
 * Validates a channel list read from JSON.
 * @param parsed - The parsed JSON value, expected to be an array of channel objects.
 * @param source - Where the JSON came from, for error messages.
 * @returns The channels in priority order.
 * @throws ConfigError naming the entry and field to fix.
 */
export function parseChannels(parsed: unknown, source: string): ChannelConfig[] {
  if (!Array.isArray(parsed)) {
    throw new ConfigError(
      `${source} must be a JSON array of channels, for example [{"name":"lab","ackMode":"enhanced"}].`
    );
  }

  return parsed.map((item: unknown, index): ChannelConfig => {
    const where = `${source}[${index}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw new ConfigError(`${where} must be a JSON object.`);
    }
    const entry = item as Record<string, unknown>;
    const name = entry['name'] ?? `channel-${index + 1}`;
    if (typeof name !== 'string') {
      throw new ConfigError(`${where}.name must be a string.`);
    }
    const ackMode = entry['ackMode'] ?? 'original';
    if (typeof ackMode !== 'string' || !ACK_MODES.has(ackMode)) {
      throw new ConfigError(`${where}.ackMode must be original, enhanced or immediate.`);
    }
    const duplicatePolicy = entry['duplicatePolicy'] ?? 'reject';
    if (typeof duplicatePolicy !== 'string' || !DUPLICATE_POLICIES.has(duplicatePolicy)) {
      throw new ConfigError(`${where}.duplicatePolicy must be reject or correction.`);
    }

    const sendingApplication = optionalString(entry, 'sendingApplication', where);
    const sendingFacility = optionalString(entry, 'sendingFacility', where);
    return {
      name,
      ackMode: ackMode as AckModeSetting,
      duplicatePolicy: duplicatePolicy as DuplicatePolicy,
      ...(sendingApplication === undefined ? {} : { sendingApplication }),
      ...(sendingFacility === undefined ? {} : { sendingFacility }),
      ...(entry['returnAddress'] === undefined
        ? {}
        : { returnAddress: parseReturnAddress(entry['returnAddress'], where) }),
    };
  });
}

/**
 * Reads the channel list from env `HL7_CHANNELS` (JSON text) or the file named by `HL7_CHANNELS_FILE`.
 * @returns The channels, empty when neither is set (every message then uses {@link DEFAULT_CHANNEL}).
 * @throws ConfigError when both are set, the file cannot be read or the JSON is invalid.
 */
export function loadChannels(env: Record<string, string | undefined>): ChannelConfig[] {
  const inline = env['HL7_CHANNELS'] ?? '';
  const file = env['HL7_CHANNELS_FILE'] ?? '';
  if (inline !== '' && file !== '') {
    throw new ConfigError('Set either HL7_CHANNELS or HL7_CHANNELS_FILE, not both.');
  }
  if (inline === '' && file === '') {
    return [];
  }

  let text = inline;
  const source = inline === '' ? `HL7_CHANNELS_FILE (${file})` : 'HL7_CHANNELS';
  if (inline === '') {
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `Cannot read HL7_CHANNELS_FILE "${file}": ${err instanceof Error ? err.message : String(err)}.`
      );
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(`${source} is not valid JSON.`);
  }
  return parseChannels(parsed, source);
}
