/**
 * `blockstore put|get|cat|stat|ls|du|find|rm|mv|cp|mirror|versions|restore|watch|usage|status|admin|profile`:
 * the SDK for people. Where to connect: flags, then a named profile
 * (--profile, BLOCKSTORE_PROFILE), then BLOCKSTORE_ADDRESS/BLOCKSTORE_TOKEN,
 * then the credentials file's default profile or its top-level cluster
 * (--credentials, BLOCKSTORE_CREDENTIALS, default
 * ~/.config/blockstore/credentials.json). Each command takes its own flags
 * (sdk/commands.ts) and the connection flags. Output is text, or JSON with --json.
 *
 * Exit codes: 0 ok, 1 other error, 2 usage, 3 not found (remote or local), 4 conflict
 * (version or existence), 5 permission/authentication, 6 unavailable,
 * 7 quota or capacity, 8 data loss.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { helpText, parseFlags, UsageError, type FlagValues } from '../lib/cli/flags';
import { BlockstoreError, type ErrorCode } from '../lib/errors';
import { parseBytes } from '../lib/units';
import { BlockstoreClient, type FileInfo } from './client';
import { credentialsPath, readCredentials, resolveConnection, tokenFrom, writeCredentials } from './connection';
import { flagsFor, USER_COMMANDS } from './commands';
import { mirror } from './mirror';


export { USER_COMMANDS };

/** A glob on a file's last path component: * any run, ? one character. */
export function globMatcher(glob: string): (path: string) => boolean {
  const re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return (path) => re.test(path.slice(path.lastIndexOf('/') + 1));
}

const EXIT: Partial<Record<ErrorCode, number>> = {
  NOT_FOUND: 3, BLOCK_NOT_FOUND: 3,
  VERSION_CONFLICT: 4, ALREADY_EXISTS: 4, MISSING_BLOCKS: 4,
  UNAUTHENTICATED: 5, PERMISSION_DENIED: 5,
  UNAVAILABLE: 6, NOT_MASTER: 6, NO_SYNC_REPLICA: 6, DEADLINE_EXCEEDED: 6,
  QUOTA_EXCEEDED: 7, CAPACITY_EXCEEDED: 7, RATE_LIMITED: 7,
  CORRUPT_BLOCK: 8,
};

/** A client for the cluster the command line, the environment or the credentials file names (sdk/connection.ts). */
function connect(values: FlagValues, given: FlagValues): BlockstoreClient {
  const c = resolveConnection(
    {
      address: given.address as string | undefined, token: tokenFrom(given.token as string | undefined, given['token-file'] as string | undefined),
      caFile: given['ca-file'] as string | undefined, certFile: given['cert-file'] as string | undefined, keyFile: given['key-file'] as string | undefined,
    },
    { profile: values.profile as string | undefined, credentials: values.credentials as string | undefined },
  );
  return new BlockstoreClient(c);
}

/** `blockstore profile set|list|use|rm`: named clusters in the credentials file. */
function profileCommand(values: FlagValues, positionals: string[], out: (text: string, obj: unknown) => void): number {
  const path = credentialsPath(values.credentials as string | undefined);
  const file = readCredentials(path);
  const [verb, name] = positionals;
  const usage = () => new UsageError(`usage: blockstore ${USER_COMMANDS.profile!.split(' — ')[0]}`);
  switch (verb) {
    case 'set': {
      if (!name) throw usage();
      const address = values.address as string | undefined;
      const token = tokenFrom(values.token as string | undefined, values['token-file'] as string | undefined);
      if (!address || !token) throw new UsageError('profile set needs --address and a token (--token-file or --token)');
      const path_ = (k: string) => (values[k] ? resolve(values[k] as string) : undefined);
      const [caFile, certFile, keyFile] = [path_('ca-file'), path_('cert-file'), path_('key-file')];
      file.profiles = { ...file.profiles, [name]: { address, token, ...(caFile ? { caFile } : {}), ...(certFile ? { certFile } : {}), ...(keyFile ? { keyFile } : {}) } };
      // The first profile of a file without a cluster of its own becomes the default.
      if (!file.default && !file.address) file.default = name;
      writeCredentials(path, file);
      out(`profile ${name}: ${address}${file.default === name ? ' (default)' : ''} in ${path}`, { profile: name, address, default: file.default === name });
      return 0;
    }
    case 'list': {
      const rows = Object.entries(file.profiles ?? {}).map(([n, p]) => ({ profile: n, address: p.address ?? '', tls: Boolean(p.caFile), default: file.default === n }));
      out(rows.map((r) => `${r.profile}\t${r.address}${r.tls ? '\tTLS' : ''}${r.default ? '\t(default)' : ''}`).join('\n') || `no profiles in ${path}`, rows);
      return 0;
    }
    case 'use':
    case 'rm': {
      if (!name) throw usage();
      if (!file.profiles?.[name]) throw new UsageError(`no profile ${JSON.stringify(name)} in ${path}`);
      if (verb === 'use') file.default = name;
      else {
        delete file.profiles[name];
        if (file.default === name) delete file.default;
      }
      writeCredentials(path, file);
      out(verb === 'use' ? `profile ${name} is the default` : `profile ${name} removed`, { profile: name, [verb === 'use' ? 'default' : 'removed']: true });
      return 0;
    }
    default:
      throw usage();
  }
}

/**
 * A progress line on stderr (a terminal only): MiB so far and the
 * percentage of `total` (given here or by each call), ended with a newline
 * when the transfer completes.
 */
function progress(enabled: boolean, label: string, total?: number): (n: number, of?: number) => void {
  if (!enabled || !process.stderr.isTTY) return () => {};
  let last = 0;
  let ended = false;
  return (n: number, of?: number) => {
    const all = of ?? total;
    const now = Date.now();
    if (ended || (now - last < 100 && n !== all)) return;
    last = now;
    const pct = all ? ` ${((n / all) * 100).toFixed(0)}%` : '';
    process.stderr.write(`\r${label}: ${(n / 1048576).toFixed(1)} MiB${all ? ` of ${(all / 1048576).toFixed(1)} MiB` : ''}${pct}   `);
    if (n === all) {
      process.stderr.write('\n');
      ended = true;
    }
  };
}

/** A local file to read: its size, or a one-line error (exit 3) when it is missing or not a file. */
function localFile(path: string): number {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new LocalFileError(`${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such local file' : (err as Error).message}`);
  }
  if (!st.isFile()) throw new LocalFileError(`${path}: not a regular file`);
  return st.size;
}

/** A local file that cannot be read or written: exit 3 (missing) with one line, no stack. */
export class LocalFileError extends Error {}

/** 1536 → "1.5 KiB". */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function show(f: FileInfo): string {
  return `${f.deleted ? 'deleted ' : ''}${f.path}\tv${f.version}\t${f.size} bytes\t${f.modified}${f.movedFrom ? `\tmoved from ${f.movedFrom}` : ''}`;
}

export async function runUserCommand(name: string, argv: string[]): Promise<number> {
  const flags = flagsFor(name);
  const { values, positionals, help } = parseFlags(argv, flags);
  if (help) {
    const [usage, summary] = USER_COMMANDS[name]!.split(' — ');
    process.stdout.write(helpText(`blockstore ${usage}`, `${summary}.`, flags));
    return 0;
  }
  const json = values.json === true;
  const out = (text: string, obj: unknown) => process.stdout.write(json ? `${JSON.stringify(obj)}\n` : `${text}\n`);
  const num = (k: string) => (values[k] === undefined ? undefined : Number(values[k]));
  const need = (n: number) => {
    if (positionals.length < n) throw new UsageError(`usage: blockstore ${USER_COMMANDS[name]}`);
  };
  if (name === 'profile') return profileCommand(values, positionals, out);
  const client = connect(values, parseFlags(argv, flags, {}).values);
  /** mirror, and cp -r (which never removes: it has no --remove). */
  const mirrorCommand = async (): Promise<number> => {
    need(2);
    const [localDir, prefix] = positionals as [string, string];
    let st;
    try {
      st = statSync(localDir);
    } catch {
      throw new LocalFileError(`${localDir}: no such local directory`);
    }
    if (!st.isDirectory()) throw new LocalFileError(`${localDir}: not a directory`);
    const list = (k: string) => (typeof values[k] === 'string' ? (values[k] as string).split(',').filter(Boolean) : []);
    const dry = values['dry-run'] === true;
    const r = await mirror(client, localDir, prefix, {
      include: list('include'), exclude: list('exclude'), remove: values.remove === true, dryRun: dry,
      onFile: (path, what, sent) => {
        if (!json && !values.quiet && what !== 'unchanged') out(`${dry ? 'would be ' : ''}${what === 'removed' ? 'removed' : `${what === 'new' ? 'added' : 'updated'}`}\t${path}${what === 'removed' || dry ? '' : `\t${humanBytes(sent)} sent`}`, undefined);
      },
    });
    out(`${r.files} file${r.files === 1 ? '' : 's'}: ${r.added} new, ${r.changed} changed, ${r.unchanged} unchanged, ${r.removed} removed; ${humanBytes(r.bytesSent)} sent${dry ? ' (dry run: nothing changed)' : ''}`, r);
    return 0;
  };

  try {
    switch (name) {
      case 'put': {
        need(2);
        const [local, remote] = positionals as [string, string];
        if (local === '-') {
          if (values.sync) throw new UsageError('put --sync needs a file (it reads it twice), not standard input');
          const r = await client.put(remote, process.stdin, { expectedVersion: num('expected-version') });
          out(`${show(r.file)}\tstored ${r.bytesStored} new bytes`, r);
          return 0;
        }
        const size = localFile(local);
        if (values.sync) {
          const r = await client.sync(remote, local, { expectedVersion: num('expected-version') });
          out(`${show(r.file)}\tsent ${r.blocksSent}/${r.blocks} blocks (${r.bytesSent} bytes)`, r);
        } else {
          const r = await client.put(remote, local, { expectedVersion: num('expected-version'), onProgress: progress(!values.quiet && !json, 'put', size) });
          out(`${show(r.file)}\tstored ${r.bytesStored} new bytes`, r);
        }
        return 0;
      }
      case 'cat':
      case 'get': {
        need(1);
        const [remote, local] = positionals as [string, string | undefined];
        if (name === 'cat' || !local || local === '-') {
          const { data } = await client.download(remote, { version: num('version') });
          for await (const p of data) if (!process.stdout.write(p)) await new Promise((r) => process.stdout.once('drain', r));
        } else {
          const info = await client.getToPath(remote, local, { version: num('version'), onProgress: progress(!values.quiet && !json, 'get') });
          out(show(info), info);
        }
        return 0;
      }
      case 'stat': {
        need(1);
        const f = await client.stat(positionals[0]!, num('version') ?? 0);
        out(`${show(f)}\tsha256 ${f.contentHash}`, f);
        return 0;
      }
      case 'du': {
        const prefix = positionals[0] ?? '';
        let files = 0;
        let bytes = 0;
        for await (const f of client.list(prefix, 1000)) {
          files++;
          bytes += Number(f.size);
        }
        out(`${bytes}\t${humanBytes(bytes)}\t${files} file${files === 1 ? '' : 's'}\t${prefix || '(all)'}`, { prefix, files, bytes });
        return 0;
      }
      case 'ls': {
        const files: FileInfo[] = [];
        for await (const f of client.list(positionals[0] ?? '')) {
          files.push(f);
          if (!json) out(show(f), f);
        }
        if (json) out('', files);
        return 0;
      }
      case 'rm': {
        need(1);
        if (values.prefix) {
          if (!values.yes) throw new UsageError(`rm --prefix deletes every file under "${positionals[0]}": add --yes to do it (see them first: blockstore ls ${positionals[0]})`);
          // Listed first, then deleted: files written meanwhile are not touched.
          const paths: string[] = [];
          for await (const f of client.list(positionals[0]!, 1000)) paths.push(f.path);
          for (const path of paths) {
            await client.delete(path);
            if (!json) out(`deleted ${path}`, undefined);
          }
          if (json) out('', { prefix: positionals[0], deleted: paths });
          else out(`${paths.length} file${paths.length === 1 ? '' : 's'} deleted under ${positionals[0]}`, undefined);
          return 0;
        }
        const r = await client.delete(positionals[0]!, num('expected-version'));
        out(`deleted ${positionals[0]} (v${r.file.version})`, r);
        return 0;
      }
      case 'find': {
        const match = values.name === undefined ? () => true : globMatcher(values.name as string);
        const larger = values.larger === undefined ? -1 : parseBytes(values.larger as string, '--larger');
        const smaller = values.smaller === undefined ? Infinity : parseBytes(values.smaller as string, '--smaller');
        const found: FileInfo[] = [];
        for await (const f of client.list(positionals[0] ?? '', 1000)) {
          const size = Number(f.size);
          if (!match(f.path) || size <= larger || size >= smaller) continue;
          found.push(f);
          if (!json) out(show(f), f);
        }
        if (json) out('', found);
        return 0;
      }
      case 'admin': {
        const [what, verb, arg] = positionals as [string?, string?, string?];
        if (what === 'user' && (verb === 'add' || verb === 'create') && arg) {
          if (values.quota === undefined) throw new UsageError(`admin user ${verb} needs --quota SIZE (e.g. 100GiB)`);
          const r = await client.createUser(arg, (values.name as string | undefined) ?? arg, parseBytes(values.quota as string, '--quota'));
          out(`user ${r.id} created, quota ${humanBytes(Number(r.quotaBytes))}`, r);
          return 0;
        }
        if (what === 'user' && verb === 'list' && !arg) {
          const users = [];
          if (!json) out('ID\tNAME\tUSED\tQUOTA\tCREATED', undefined);
          for await (const u of client.listUsers(1000)) {
            users.push(u);
            if (!json) out(`${u.id}\t${u.name}\t${humanBytes(Number(u.usedBytes))}\t${humanBytes(Number(u.quotaBytes))}\t${u.createdAt}`, undefined);
          }
          if (json) out('', users);
          return 0;
        }
        if (what === 'token' && verb === 'issue' && arg) {
          const ttl = values.ttl === undefined ? 0 : Number(values.ttl);
          if (!Number.isSafeInteger(ttl) || ttl < 0) throw new UsageError('--ttl: whole seconds, 0 or more');
          const r = await client.issueToken(arg, values.admin ? 'admin' : 'user', ttl);
          // The token on its own line first: `… | head -1 > token` keeps it.
          out(`${r.token}\ntoken id ${r.tokenId}${r.expiresAt ? `, expires ${r.expiresAt}` : ', never expires'} (shown once; keep it secret)`, r);
          return 0;
        }
        if (what === 'token' && verb === 'revoke' && arg) {
          await client.revokeToken(arg);
          out(`token ${arg} revoked`, { tokenId: arg, revoked: true });
          return 0;
        }
        if (what === 'drain' && verb) {
          const r = await client.drainNode(verb);
          out(`${verb}: drain ${r.accepted ? 'requested' : 'not accepted'}`, r);
          return r.accepted ? 0 : 1;
        }
        throw new UsageError(`usage: blockstore ${USER_COMMANDS.admin}`);
      }
      case 'cp':
        need(2);
        // cp of a file is put; cp -r is mirror without --remove.
        if (!values.recursive) return await runUserCommand('put', argv);
        return await mirrorCommand();
      case 'mirror':
        return await mirrorCommand();
      case 'mv': {
        need(2);
        const r = await client.move(positionals[0]!, positionals[1]!);
        out(show(r.file), r);
        return 0;
      }
      case 'versions': {
        need(1);
        const vs = await client.versions(positionals[0]!);
        out(vs.map(show).join('\n'), vs);
        return 0;
      }
      case 'restore': {
        need(1);
        if (values.version === undefined) throw new UsageError('restore needs --version N');
        const r = await client.restore(positionals[0]!, Number(values.version), num('expected-version'));
        out(show(r.file), r);
        return 0;
      }
      case 'watch': {
        const ac = new AbortController();
        process.once('SIGINT', () => ac.abort());
        for await (const ev of client.watch(positionals[0] ?? '', num('cursor') ?? 0, ac.signal)) {
          out(`${ev.cursor}\t${ev.kind}\t${ev.path}\tv${ev.version}${ev.fromPath ? `\tfrom ${ev.fromPath}` : ''}`, ev);
        }
        return 0;
      }
      case 'usage': {
        const u = await client.usage();
        out(`${u.bytesUsed} of ${u.quotaBytes || 'unlimited'} bytes`, u);
        return 0;
      }
      case 'status': {
        const s = await client.clusterStatus();
        const rows = s.nodes.map((n) => `${n.kind}\t${n.id}\t${n.address}\tpid ${n.pid}\t${n.role}\t${n.state}${n.kind === 'meta' ? `\tlag ${n.replicationLag}` : ''}${n.kind === 'blockd' ? `\t${n.usedBytes}/${n.capacityBytes} bytes, ${n.blocks} blocks, ${n.corruptBlocks} corrupt` : ''}`);
        out(`master ${s.masterId} (epoch ${s.epoch}), synchronous ${s.syncReplicas.join(',')}\n${rows.join('\n')}`, s);
        return 0;
      }
      default:
        throw new UsageError(`unknown command ${name}`);
    }
  } catch (err) {
    if (err instanceof BlockstoreError) {
      process.stderr.write(`blockstore ${name}: ${err.code}: ${err.message}\n`);
      return EXIT[err.code] ?? 1;
    }
    if (err instanceof LocalFileError) {
      process.stderr.write(`blockstore ${name}: ${err.message}\n`);
      return 3;
    }
    // The local side failed (a directory that does not exist, no permission, a full disk): one line.
    const sys = err as NodeJS.ErrnoException;
    if (typeof sys.code === 'string' && typeof sys.syscall === 'string') {
      process.stderr.write(`blockstore ${name}: ${sys.path ? `${sys.path}: ` : ''}${sys.code === 'ENOENT' ? 'no such file or directory' : sys.message}\n`);
      return sys.code === 'ENOENT' ? 3 : 1;
    }
    throw err;
  } finally {
    client.close();
  }
}
