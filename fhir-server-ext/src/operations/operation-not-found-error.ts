/** The operation's target resource does not exist; the router responds 404 with an OperationOutcome. */
export class OperationNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OperationNotFoundError';
  }
}
