/**
 * Where a client connects, decided the same way by the CLI and by
 * `BlockstoreClient.fromEnv()`: what the caller gives; then a named profile
 * (BLOCKSTORE_PROFILE, or `--profile`), over the environment, since naming a
 * profile means that cluster; then BLOCKSTORE_ADDRESS, BLOCKSTORE_TOKEN or
 * BLOCKSTORE_TOKEN_FILE, BLOCKSTORE_CA_FILE, BLOCKSTORE_CERT_FILE and
 * BLOCKSTORE_KEY_FILE (mutual TLS); then the credentials file's
 * default profile or its top-level cluster (BLOCKSTORE_CREDENTIALS, default
 * ~/.config/blockstore/credentials.json, written by `blockstore profile set`).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { BlockstoreError } from '../lib/errors';

export interface Profile {
  address?: string;
  token?: string;
  /** PEM file of the CA that signed the balancer's certificate (TLS). */
  caFile?: string;
  /** PEM client certificate and key files, for a balancer that requires mutual TLS. */
  certFile?: string;
  keyFile?: string;
}

/** The credentials file: one cluster at the top level, and/or named ones, one of them the default. */
export interface CredentialsFile extends Profile {
  profiles?: Record<string, Profile>;
  default?: string;
}

export interface Connection {
  address: string[];
  token: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export function credentialsPath(given?: string, env: NodeJS.ProcessEnv = process.env): string {
  return given || env.BLOCKSTORE_CREDENTIALS || join(homedir(), '.config', 'blockstore', 'credentials.json');
}

/** @throws BlockstoreError INVALID_ARGUMENT when the file is not JSON */
export function readCredentials(path: string): CredentialsFile {
  if (!existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as CredentialsFile;
  } catch (err) {
    throw new BlockstoreError('INVALID_ARGUMENT', `${path}: not a credentials file (${(err as Error).message})`);
  }
}

/** Written whole (a temporary file renamed), readable by its owner only. */
export function writeCredentials(path: string, file: CredentialsFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** A token given directly, or read from a file. */
export function tokenFrom(token: string | undefined, tokenFile: string | undefined): string | undefined {
  if (token) return token;
  return tokenFile ? readFileSync(tokenFile, 'utf8').trim() : undefined;
}

/**
 * @param given what the caller says itself (flags, options); wins over everything
 * @param opts.profile a profile to use (default: BLOCKSTORE_PROFILE)
 * @throws BlockstoreError INVALID_ARGUMENT when no address or token is found, or a named profile does not exist
 */
export function resolveConnection(given: Profile = {}, opts: { profile?: string; credentials?: string } = {}, env: NodeJS.ProcessEnv = process.env): Connection {
  const path = credentialsPath(opts.credentials, env);
  const file = readCredentials(path);
  const named = opts.profile || env.BLOCKSTORE_PROFILE || undefined;
  const profile = (name: string): Profile => {
    const p = file.profiles?.[name];
    if (!p) throw new BlockstoreError('INVALID_ARGUMENT', `no profile ${JSON.stringify(name)} in ${path} (see: blockstore profile list)`);
    return p;
  };
  const layers: Profile[] = [given];
  if (named) layers.push(profile(named));
  layers.push({ address: env.BLOCKSTORE_ADDRESS, token: tokenFrom(env.BLOCKSTORE_TOKEN, env.BLOCKSTORE_TOKEN_FILE), caFile: env.BLOCKSTORE_CA_FILE, certFile: env.BLOCKSTORE_CERT_FILE, keyFile: env.BLOCKSTORE_KEY_FILE });
  if (!named) layers.push(file.default ? profile(file.default) : file);
  const pick = <K extends keyof Profile>(k: K) => layers.map((l) => l[k]).find((v) => v !== undefined && v !== '');
  const address = pick('address');
  const token = pick('token');
  const caFile = pick('caFile');
  const certFile = pick('certFile');
  const keyFile = pick('keyFile');
  if (!address) throw new BlockstoreError('INVALID_ARGUMENT', 'no address: give one, or set BLOCKSTORE_ADDRESS, BLOCKSTORE_PROFILE or a credentials file');
  if (!token) throw new BlockstoreError('INVALID_ARGUMENT', 'no token: give one, or set BLOCKSTORE_TOKEN(_FILE), BLOCKSTORE_PROFILE or a credentials file');
  return {
    address: address.split(','), token, ca: caFile ? readFileSync(caFile) : undefined,
    ...(certFile ? { cert: readFileSync(certFile) } : {}), ...(keyFile ? { key: readFileSync(keyFile) } : {}),
  };
}
