/**
 * Alert notification settings from environment variables. A channel without its variables is off.
 */
import type { EmailSettings } from './email.js';
import type { WebhookSettings } from './webhook.js';

/** Channels that alert events are sent to. */
export interface NotificationSettings {
  webhook?: WebhookSettings;
  email?: EmailSettings;
}

function positiveInteger(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got "${raw}".`);
  }
  return value;
}

/**
 * Reads the settings:
 * - MONITORMED_ALERT_WEBHOOK_URL and MONITORMED_ALERT_WEBHOOK_SECRET (both, or neither);
 * - MONITORMED_ALERT_SMTP_URL (`smtp://host:port`, or `smtps://` for TLS from the start),
 *   MONITORMED_ALERT_EMAIL_FROM and MONITORMED_ALERT_EMAIL_TO (comma-separated);
 * - MONITORMED_ALERT_ATTEMPTS (default 5), MONITORMED_ALERT_RETRY_DELAY_MS (default 1000, doubled per
 *   retry) and MONITORMED_ALERT_TIMEOUT_MS (default 10000).
 * @throws RangeError naming the variable that is missing or invalid.
 */
export function loadNotificationSettings(env: NodeJS.ProcessEnv = process.env): NotificationSettings {
  const maxAttempts = positiveInteger(env, 'MONITORMED_ALERT_ATTEMPTS', 5);
  const baseDelayMs = positiveInteger(env, 'MONITORMED_ALERT_RETRY_DELAY_MS', 1000);
  const timeoutMs = positiveInteger(env, 'MONITORMED_ALERT_TIMEOUT_MS', 10_000);
  const settings: NotificationSettings = {};

  const url = env['MONITORMED_ALERT_WEBHOOK_URL'];
  const secret = env['MONITORMED_ALERT_WEBHOOK_SECRET'];
  if ((url === undefined) !== (secret === undefined)) {
    throw new RangeError(
      'Set both MONITORMED_ALERT_WEBHOOK_URL and MONITORMED_ALERT_WEBHOOK_SECRET, or neither.'
    );
  }
  if (url !== undefined && secret !== undefined) {
    settings.webhook = { url, secret, maxAttempts, baseDelayMs, timeoutMs };
  }

  const smtpUrl = env['MONITORMED_ALERT_SMTP_URL'];
  if (smtpUrl !== undefined) {
    const parsed = new URL(smtpUrl);
    const from = env['MONITORMED_ALERT_EMAIL_FROM'];
    const to = (env['MONITORMED_ALERT_EMAIL_TO'] ?? '')
      .split(',')
      .map((address) => address.trim())
      .filter(Boolean);
    if (from === undefined || to.length === 0) {
      throw new RangeError(
        'MONITORMED_ALERT_SMTP_URL needs MONITORMED_ALERT_EMAIL_FROM and MONITORMED_ALERT_EMAIL_TO.'
      );
    }
    const secure = parsed.protocol === 'smtps:';
    const defaultPort = secure ? 465 : 25;
    settings.email = {
      host: parsed.hostname,
      port: parsed.port === '' ? defaultPort : Number(parsed.port),
      secure,
      ignoreTls: false,
      from,
      to,
      maxAttempts,
      timeoutMs,
    };
  }
  return settings;
}
