import { isDomainError } from '../../src/errors.js';

/** The message of the invalid-argument refusal `fn` throws; fails the test when `fn` accepts or throws anything else. */
export function refusal(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    if (isDomainError(err, 'invalid-argument')) return err.message;
    throw err;
  }
  throw new Error('accepted; a refusal was expected');
}
