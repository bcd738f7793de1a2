/**
 * Alert emails through an SMTP server with nodemailer.
 */
import nodemailer from 'nodemailer';
import type { DeliveryOutcome } from './webhook.js';

/** SMTP server and addresses of alert emails. */
export interface EmailSettings {
  host: string;
  port: number;
  /** TLS from the start (port 465 style); otherwise STARTTLS when the server offers it. */
  secure: boolean;
  /** Skips STARTTLS, for a loopback test server without a certificate. */
  ignoreTls: boolean;
  from: string;
  to: string[];
  maxAttempts: number;
  timeoutMs: number;
}

/** Subject and plain-text body of one alert email. */
export interface AlertEmail {
  subject: string;
  text: string;
  /** Message-ID header, so a retried send is recognisable as the same message. */
  messageId: string;
}

/**
 * Sends an email, retrying up to `maxAttempts` times.
 * @returns The outcome with the server's last reply. Send errors are caught and returned in it.
 */
export async function sendAlertEmail(settings: EmailSettings, email: AlertEmail): Promise<DeliveryOutcome> {
  const transport = nodemailer.createTransport({
    host: settings.host,
    port: settings.port,
    secure: settings.secure,
    ignoreTLS: settings.ignoreTls,
    connectionTimeout: settings.timeoutMs,
    greetingTimeout: settings.timeoutMs,
    socketTimeout: settings.timeoutMs,
  });

  const outcome: DeliveryOutcome = { delivered: false, attempts: 0 };
  try {
    for (let attempt = 1; attempt <= settings.maxAttempts; attempt += 1) {
      outcome.attempts = attempt;
      try {
        const info = await transport.sendMail({
          from: settings.from,
          to: settings.to,
          subject: email.subject,
          text: email.text,
          messageId: email.messageId,
        });
        outcome.delivered = true;
        outcome.lastResponse = info.response;
        delete outcome.lastError;
        return outcome;
      } catch (err) {
        outcome.lastError = (err as Error).message;
      }
    }
    return outcome;
  } finally {
    transport.close();
  }
}
