/** A peer (FHIR server or MongoDB) cannot be reached; the surrogate commands exit with status 3. */
export class PeerUnavailableError extends Error {
  override name = 'PeerUnavailableError';
}
