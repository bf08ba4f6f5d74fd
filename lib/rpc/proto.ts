/**
 * Loads every service definition from the .proto files at run time
 * (@grpc/proto-loader, no protoc needed), and the committed descriptor set
 * (proto/gen/descriptor-set.bin, made by proto/gen.sh from the same files;
 * proto/check.sh fails on drift) that reflection serves.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readdirSync, statSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as BlockdTypes } from '../../proto/gen/ts/blockd';
import type { ProtoGrpcType as HealthTypes } from '../../proto/gen/ts/health';
import type { ProtoGrpcType as MetaTypes } from '../../proto/gen/ts/meta';
import type { ProtoGrpcType as FilesTypes } from '../../proto/gen/ts/files';
import type { ProtoGrpcType as AdminTypes } from '../../proto/gen/ts/admin';
import type { ProtoGrpcType as ReflectionTypes } from '../../proto/gen/ts/reflection';
import { ROOT } from '../root';

const PROTO_ROOT = join(ROOT, 'proto');
export const DESCRIPTOR_SET_PATH = join(PROTO_ROOT, 'gen', 'descriptor-set.bin');

function protoFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    if (statSync(join(dir, r)).isDirectory()) {
      if (r !== 'gen') out.push(...protoFiles(dir, r));
    } else if (name.endsWith('.proto')) out.push(r);
  }
  return out;
}

/** Options shared with proto/gen.sh's type generation: keep them in step. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

export type Protos = HealthTypes & ReflectionTypes & {
  blockstore: {
    internal: { v1: BlockdTypes['blockstore']['internal']['v1'] & MetaTypes['blockstore']['internal']['v1'] };
    v1: FilesTypes['blockstore']['v1'] & AdminTypes['blockstore']['v1'];
  };
  google: BlockdTypes['google'];
  grpc: { reflection: { v1alpha: ReflectionTypes['grpc']['reflection']['v1'] } };
};

let cached: { protos: Protos; descriptorSet: Buffer } | undefined;

/** The loaded packages; read once per process (immutable, safe to share). */
export function loadProtos(): { protos: Protos; descriptorSet: Buffer } {
  if (!cached) {
    const descriptorSet = readFileSync(DESCRIPTOR_SET_PATH);
    const definition = protoLoader.loadSync(protoFiles(PROTO_ROOT), { ...LOADER_OPTIONS, includeDirs: [PROTO_ROOT] });
    cached = { protos: grpc.loadPackageDefinition(definition) as unknown as Protos, descriptorSet };
  }
  return cached;
}

