/** Thrown when the server must serve built assets that do not exist and building was turned off. */
export class MissingAssetsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingAssetsError';
  }
}
