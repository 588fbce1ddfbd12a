/** A flag with a value that cannot work; the CLI exits with status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
