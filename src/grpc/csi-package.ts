import { loadPackageDefinition, type GrpcObject } from '@grpc/grpc-js';
import { loadSync, type Options, type PackageDefinition } from '@grpc/proto-loader';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProtoGrpcType } from '../gen/csi.js';

/**
 * Loader options. scripts/gen-proto-types.mjs passes the same flags to proto-loader-gen-types, so the
 * generated types in src/gen describe exactly these runtime shapes: snake_case names, int64 as decimal
 * strings (converted to bigint at the edge), enums as their names, defaults and oneof discriminators present.
 */
export const LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

export const CSI_PROTO_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'proto', 'csi.proto');

let cached: { definition: PackageDefinition; grpc: ProtoGrpcType } | undefined;

export function loadCsi(): { definition: PackageDefinition; grpc: ProtoGrpcType } {
  if (!cached) {
    const definition = loadSync(CSI_PROTO_PATH, LOADER_OPTIONS);
    const grpc = loadPackageDefinition(definition) as GrpcObject as unknown as ProtoGrpcType;
    cached = { definition, grpc };
  }
  return cached;
}
