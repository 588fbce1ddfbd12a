import { fileURLToPath } from 'node:url';

/**
 * How to start another `ferry` process from this one: the same Node binary and the same built CLI entry. The entry is
 * found beside this module (dist/harness/ → dist/cli.js) rather than from process.argv[1]: for `ferry demo` (run as
 * dist/cli.js, or through the `ferry` bin link of npx) the two are the same file, and the benchmark, whose argv[1] is
 * its own script, gets the CLI all the same.
 */
export interface FerryCli {
  node: string;
  cli: string;
}

export function ferryCli(): FerryCli {
  return { node: process.execPath, cli: fileURLToPath(new URL('../cli.js', import.meta.url)) };
}
