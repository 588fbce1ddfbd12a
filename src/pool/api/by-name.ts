import { param, type ApiRequest } from './context.js';

/**
 * The name in an older client's `.../instances/getByName::NAME` path. The router has undone one level of
 * %-encoding; OpenStack's ScaleIO driver encodes twice (its names are base64, with `/`, `+` and `=`), so a name
 * that still reads as %-encoded is tried decoded once more. The first candidate `known` accepts wins; when none
 * does, the name as decoded once goes on to the lookup, which answers not found.
 */
export function nameInPath(req: ApiRequest, known: (name: string) => boolean, key = 'name'): string {
  const once = param(req, key);
  let twice = once;
  try {
    twice = decodeURIComponent(once);
  } catch {
    // Not %-encoded a second time.
  }
  return [once, twice].find(known) ?? once;
}
