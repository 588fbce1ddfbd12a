import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package version, read once from package.json (dist/ and src/ both sit one level below it). */
export const VERSION: string = (() => {
  const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'package.json');
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (parsed !== null && typeof parsed === 'object' && 'version' in parsed && typeof parsed.version === 'string') return parsed.version;
  throw new Error(`${file} has no version`);
})();
