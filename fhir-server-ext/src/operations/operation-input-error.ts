/** Invalid input of a MonitorMed operation; the router responds 400 with an OperationOutcome naming the parameter. */
export class OperationInputError extends Error {
  /** Name of the invalid or missing parameter. */
  readonly parameter: string;

  constructor(parameter: string, message: string) {
    super(message);
    this.name = 'OperationInputError';
    this.parameter = parameter;
  }
}
