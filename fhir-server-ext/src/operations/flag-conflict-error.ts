/**
 * The Flag cannot take the response as sent: another response is already recorded, the Flag is no longer
 * active, or it changed between read and update. The router responds 409 with an OperationOutcome.
 */
export class FlagConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlagConflictError';
  }
}
