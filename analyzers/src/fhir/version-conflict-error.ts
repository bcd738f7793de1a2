/** Thrown when a conditional update (If-Match) keeps losing against concurrent writers. */
export class VersionConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VersionConflictError';
  }
}
