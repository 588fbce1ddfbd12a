// Runs the e2e harness's TypeScript directly with Node (no build step, no extra dependency):
//   node --import ./test/e2e/ts-loader.mjs test/e2e/teardown.ts
// Registers ts-hooks.mjs, which maps our `./x.js` imports to `./x.ts` and strips the types with the TypeScript
// compiler the repository already has. Jest does the same through ts-jest; this is for the command-line tools.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
