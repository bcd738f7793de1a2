/**
 * Polls `check` until it returns a value other than undefined. Tests use it for effects that arrive
 * asynchronously, such as a rest-hook delivery and the analysis it starts.
 * @param description - What is awaited, for the timeout message.
 * @param check - Returns the awaited value, or undefined to keep waiting.
 * @param timeoutMs - Maximum wait.
 * @param intervalMs - Pause between checks.
 * @returns The value.
 * @throws Error when the time is up, with the description.
 */
export async function waitFor<T>(
  description: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  intervalMs = 250
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description}.`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
