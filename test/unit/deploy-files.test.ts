/**
 * The deploy files say what they mean: every systemd unit reads the shared
 * env file and then its role's, advertises its own port (a shared
 * BLOCKSTORE_ADVERTISE once gave every role the metadata port) and a fixed
 * metrics port, and names only variables its role reads; the Kubernetes manifests name
 * the image the Dockerfile builds, at the package's version; the
 * Dockerfile is multi-stage, runs as a user of its own and carries every
 * folder a server imports from. (No container builder runs here: this is
 * its lint.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

const ROOT = join(__dirname, '..', '..');
const SYSTEMD = join(ROOT, 'cluster', 'deploy', 'systemd');
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** KEY=VALUE lines of a systemd EnvironmentFile. */
function envFile(name: string): Map<string, string> {
  const lines = readFileSync(join(SYSTEMD, name), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  return new Map(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

test('systemd: each unit reads the shared env file, then its role\'s; advertises this host with its own port; metrics on a fixed port; every variable is a flag of its role', async () => {
  const { META_FLAGS } = await import('../../meta/config');
  const { BLOCKD_FLAGS } = await import('../../daemon/config');
  const { GATEWAY_FLAGS } = await import('../../gateway/config');
  const flagsOf: Record<string, Array<{ env?: string }>> = { meta: META_FLAGS, blockd: BLOCKD_FLAGS, gateway: GATEWAY_FLAGS };
  const shared = envFile('blockstore.env');
  assert.ok(shared.has('BLOCKSTORE_HOST'));
  const units = readdirSync(SYSTEMD).filter((f) => f.endsWith('.service'));
  assert.is(units.length, 3);
  const ports = new Set<string>();
  for (const u of units) {
    const role = /^blockstore-(\w+)@\.service$/.exec(u)![1]!;
    const text = readFileSync(join(SYSTEMD, u), 'utf8');
    assert.equal([...text.matchAll(/^EnvironmentFile=(.*)$/gm)].map((m) => m[1]), ['/etc/blockstore/blockstore.env', `/etc/blockstore/${role}.env`], `${u}: the shared file, then the role's (later wins)`);
    const own = envFile(`${role}.env`);
    const env = new Map([...shared, ...own]);
    // systemd substitutes ${VAR} in ExecStart from the environment files.
    const exec = /^ExecStart=(.*)$/m.exec(text)![1]!.replace(/\$\{(\w+)\}/g, (_, k: string) => env.get(k) ?? `<${k} unset>`);
    assert.not.match(exec, /unset>/, `${u}: every variable ExecStart names is set`);
    const listen = /--listen 0\.0\.0\.0:(\d+)/.exec(exec)?.[1];
    assert.ok(listen, `${u} listens on a fixed port`);
    assert.is(/--advertise (\S+)/.exec(exec)?.[1], `${shared.get('BLOCKSTORE_HOST')}:${listen}`, `${u} advertises this host with the port it listens on`);
    const http = /^0\.0\.0\.0:(\d+)$/.exec(env.get('BLOCKSTORE_HTTP_LISTEN') ?? '')?.[1];
    assert.ok(http, `${u} serves metrics on a fixed port`);
    for (const p of [listen!, http!]) {
      assert.not.ok(ports.has(p), `${u}: port ${p} is its own on the host`);
      ports.add(p);
    }
    // A misspelt variable is silently ignored by the server: each must be one of the role's flags.
    const known = new Set(flagsOf[role]!.map((f) => f.env).filter(Boolean));
    for (const k of own.keys()) if (k !== 'BLOCKSTORE_PORT') assert.ok(known.has(k), `${role}.env: ${k} is not a flag of ${role}`);
    for (const k of shared.keys()) if (k !== 'BLOCKSTORE_HOST') assert.ok(known.has(k), `blockstore.env: ${k} is not a flag of ${role}, which reads the file`);
    for (const k of ['BLOCKSTORE_LISTEN', 'BLOCKSTORE_ADVERTISE', 'BLOCKSTORE_HTTP_LISTEN', 'BLOCKSTORE_PORT']) assert.not.ok(shared.has(k), `${k} in the shared file would reach every role`);
  }
});

test('kubernetes: every blockstore container runs the image the Dockerfile builds, with a metrics port', () => {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'cluster', 'deploy', 'kubernetes', 'blockstore.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, any>);
  const containers = docs.flatMap((d) => (d?.spec?.template?.spec?.containers ?? []) as Array<{ name: string; image: string; args: string[] }>);
  const ours = containers.filter((c) => c.image.startsWith('blockstore'));
  assert.ok(ours.length >= 4);
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const built = /docker build -t (\S+) \./.exec(dockerfile)?.[1];
  assert.is(built, `blockstore:${version}`, 'the Dockerfile builds the package version');
  for (const c of ours) {
    assert.is(c.image, built, `${c.name} runs the image the Dockerfile builds`);
    if (['meta', 'blockd', 'gateway'].includes(c.args[0]!)) assert.ok(c.args.includes('--http-listen'), `${c.name} serves metrics on a fixed port`);
  }
});

test('Dockerfile: multi-stage, a user of its own, every folder the servers import from', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  assert.is(dockerfile.match(/^FROM /gm)?.length, 2, 'two stages');
  assert.match(dockerfile, /^USER blockstore$/m);
  assert.match(dockerfile, /npm ci --omit=dev/);
  for (const dir of ['bin', 'lib', 'proto', 'coordination', 'meta', 'daemon', 'gateway', 'sdk', 'cluster']) {
    assert.match(dockerfile, new RegExp(`^COPY ${dir} \\./${dir}$`, 'm'), `the image carries ${dir}/`);
  }
  assert.match(dockerfile, /^RUN scripts\/build\.sh --force$/m, 'the image carries compiled JavaScript (build/), made in the image');
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
  assert.ok(ignored.includes('node_modules') && ignored.includes('.cluster') && ignored.includes('build'), 'no local modules, cluster state or local build in the build context');
});

test.run();
