/**
 * The deploy files say what they mean: every systemd unit advertises its
 * own port (a shared BLOCKSTORE_ADVERTISE once gave every role the
 * metadata port) and a fixed metrics port; the Kubernetes manifests name
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

test('systemd: each unit advertises this host with its own port and listens for metrics on a fixed one', () => {
  const env = readFileSync(join(SYSTEMD, 'blockstore.env'), 'utf8');
  assert.not.match(env, /^BLOCKSTORE_ADVERTISE=/m, 'one advertised address for every role on a host');
  assert.match(env, /^BLOCKSTORE_HOST=/m);
  const units = readdirSync(SYSTEMD).filter((f) => f.endsWith('.service'));
  assert.is(units.length, 3);
  const metricsPorts = new Set<string>();
  for (const u of units) {
    const exec = /^ExecStart=(.*)$/m.exec(readFileSync(join(SYSTEMD, u), 'utf8'))![1]!;
    const listen = /--listen 0\.0\.0\.0:(\d+)/.exec(exec)?.[1];
    const advertise = /--advertise \$\{BLOCKSTORE_HOST\}:(\d+)/.exec(exec)?.[1];
    const http = /--http-listen 0\.0\.0\.0:(\d+)/.exec(exec)?.[1];
    assert.ok(listen, `${u} listens on a fixed port`);
    assert.is(advertise, listen, `${u} advertises the port it listens on`);
    assert.ok(http, `${u} serves metrics on a fixed port`);
    assert.not.ok(metricsPorts.has(http!), `${u}'s metrics port is its own`);
    metricsPorts.add(http!);
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
