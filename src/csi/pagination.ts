import { DomainError } from '../errors.js';

/**
 * Stable pagination over items sorted by id. The token is the last id handed out, so a page stays correct when
 * items before or after it are created or deleted between calls (csi-sanity checks both).
 */
const TOKEN_PREFIX = 'after:';

export interface Page<T> {
  items: T[];
  nextToken: string;
}

export function paginate<T>(items: readonly T[], idOf: (item: T) => string, maxEntries: number, startingToken: string): Page<T> {
  if (!Number.isInteger(maxEntries) || maxEntries < 0) throw new DomainError('invalid-argument', `max_entries must not be negative (${maxEntries})`);
  let after: string | undefined;
  if (startingToken !== '') {
    if (!startingToken.startsWith(TOKEN_PREFIX)) throw new DomainError('aborted', `starting_token "${startingToken}" is not a token this driver gave out`);
    after = Buffer.from(startingToken.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8');
  }
  const sorted = [...items].sort((a, b) => (idOf(a) < idOf(b) ? -1 : idOf(a) > idOf(b) ? 1 : 0));
  const rest = after === undefined ? sorted : sorted.filter((item) => idOf(item) > after);
  const page = maxEntries === 0 ? rest : rest.slice(0, maxEntries);
  const last = page[page.length - 1];
  const more = page.length < rest.length && last !== undefined;
  return { items: page, nextToken: more ? TOKEN_PREFIX + Buffer.from(idOf(last), 'utf8').toString('base64url') : '' };
}
