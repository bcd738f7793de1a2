/** Thrown when an operation on a peer (Redis, the FHIR server) does not finish within its time limit. */
export class TimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/**
 * Waits for `promise`, but rejects with a {@link TimeoutError} after `timeoutMs`.
 * @param promise - The operation; it keeps running after a timeout, only the wait ends.
 * @param timeoutMs - Time limit in milliseconds.
 * @param message - Error message on timeout: what timed out and what to check.
 * @returns The promise's value.
 */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new TimeoutError(message));
    }, timeoutMs);
  });

  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
