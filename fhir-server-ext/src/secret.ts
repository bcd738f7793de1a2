import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares a received secret with the expected one in constant time.
 * Both are hashed first, so the comparison time does not depend on the secret's length either.
 * @param received - Header value from the request, or undefined when it is missing.
 * @param expected - The configured secret.
 * @returns True when they are equal.
 */
export function secretMatches(received: string | undefined, expected: string): boolean {
  if (received === undefined) {
    return false;
  }
  const receivedDigest = createHash('sha256').update(received).digest();
  const expectedDigest = createHash('sha256').update(expected).digest();
  return timingSafeEqual(receivedDigest, expectedDigest);
}
