// Generates TypeScript types for proto/csi.proto into src/gen/ (never edited by hand).
// The loader options here must match those in src/grpc/proto-options.ts: the generated
// shapes describe exactly what @grpc/proto-loader hands the handlers at run time.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const bin = require.resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js');
const outDir = path.join(root, 'src', 'gen');

rmSync(outDir, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [
    bin,
    '--grpcLib=@grpc/grpc-js',
    '--keepCase',
    '--longs=String',
    '--enums=String',
    '--defaults',
    '--oneofs',
    '--includeComments',
    '--importFileExtension=.js',
    `--outDir=${outDir}`,
    path.join(root, 'proto', 'csi.proto'),
  ],
  { stdio: 'inherit' },
);
