/**
 * Signed webhook delivery of alert events: a JSON POST whose body is signed with HMAC-SHA256, retried with
 * exponential backoff on network errors, timeouts, 429 and 5xx responses.
 */
import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

/** Header with `sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">`. */
export const SIGNATURE_HEADER = 'X-MonitorMed-Signature';

/** Header with the Unix time in seconds that the signature covers, so a receiver can reject replays. */
export const TIMESTAMP_HEADER = 'X-MonitorMed-Timestamp';

/** Webhook endpoint and retry policy. */
export interface WebhookSettings {
  url: string;
  /** Shared secret of the HMAC. */
  secret: string;
  maxAttempts: number;
  /** Delay before the second attempt; each later delay doubles. */
  baseDelayMs: number;
  timeoutMs: number;
}

/** Outcome of a delivery. */
export interface DeliveryOutcome {
  delivered: boolean;
  attempts: number;
  lastResponse?: string;
  lastError?: string;
}

/**
 * Computes the signature header value of a body.
 * @returns `sha256=` and the hex HMAC-SHA256 of `{timestamp}.{body}` under `secret`.
 */
export function signWebhookBody(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

function retryable(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * Posts `payload` as JSON to the webhook until a 2xx response, a non-retryable status or the last attempt.
 * @returns The outcome. Network errors and timeouts are caught and returned in it, so the caller records
 *   every failure.
 */
export async function deliverWebhook(settings: WebhookSettings, payload: unknown): Promise<DeliveryOutcome> {
  const body = JSON.stringify(payload);
  const outcome: DeliveryOutcome = { delivered: false, attempts: 0 };

  for (let attempt = 1; attempt <= settings.maxAttempts; attempt += 1) {
    if (attempt > 1) {
      await sleep(settings.baseDelayMs * 2 ** (attempt - 2));
    }
    outcome.attempts = attempt;

    // Each attempt is signed anew, so its timestamp is current.
    const timestamp = String(Math.floor(Date.now() / 1000));
    try {
      const response = await fetch(settings.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: signWebhookBody(settings.secret, timestamp, body),
        },
        body,
        signal: AbortSignal.timeout(settings.timeoutMs),
      });
      await response.body?.cancel();
      outcome.lastResponse = `HTTP ${String(response.status)}`;
      delete outcome.lastError;
      if (response.ok) {
        outcome.delivered = true;
        return outcome;
      }
      if (!retryable(response.status)) {
        return outcome;
      }
    } catch (err) {
      outcome.lastError = (err as Error).message;
    }
  }
  return outcome;
}
