/** Invalid command-line input; the drift report prints its message and exits with status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
