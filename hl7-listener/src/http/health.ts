import type { Db } from 'mongodb';

/** Result of a health check, sent as the JSON body of `GET /health`. */
export interface HealthReport {
  status: 'ok' | 'unavailable';
  /** Why the listener cannot accept messages durably; set when `status` is `unavailable`. */
  reason?: string;
}

/** Default time a MongoDB ping may take before the listener counts MongoDB as unreachable. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 2_000;

/**
 * Pings MongoDB, which must be reachable because every message is stored before it is acknowledged.
 * @param db - The listener's database.
 * @param timeoutMs - Time the ping may take; the driver's own server selection timeout is longer.
 * @returns `ok`, or `unavailable` with the reason.
 */
export async function checkMongoHealth(db: Db, timeoutMs = DEFAULT_HEALTH_TIMEOUT_MS): Promise<HealthReport> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<HealthReport>((resolve) => {
    timer = setTimeout(() => {
      resolve({ status: 'unavailable', reason: `MongoDB did not answer a ping within ${timeoutMs} ms` });
    }, timeoutMs);
  });
  const ping = db.command({ ping: 1 }).then(
    (): HealthReport => ({ status: 'ok' }),
    (err: unknown): HealthReport => ({
      status: 'unavailable',
      reason: `MongoDB ping failed: ${err instanceof Error ? err.message : String(err)}`,
    })
  );

  try {
    return await Promise.race([ping, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
