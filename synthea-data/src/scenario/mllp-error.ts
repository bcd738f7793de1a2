/** Thrown when an MLLP connection fails, closes early or an ACK does not arrive in time. */
export class MllpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MllpError';
  }
}
