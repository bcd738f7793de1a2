/** Thrown for a command line the CLI cannot run; the message states what to fix. */
export class CliUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliUsageError';
  }
}
