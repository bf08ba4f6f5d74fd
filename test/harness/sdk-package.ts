/**
 * The SDK as a user installs it: scripts/build-sdk.sh packs it, and this
 * unpacks the tarball into a scratch project's node_modules beside its two
 * declared dependencies (linked from this repository's node_modules, so no
 * registry is needed). Code run there resolves @blockstore/sdk as any
 * project would, and nothing of the repository is on its path.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../lib/root';

export function installSdkPackage(project: string): { tarball: string; packageDir: string } {
  const tarball = join(ROOT, execFileSync(join(ROOT, 'scripts', 'build-sdk.sh'), { encoding: 'utf8' }).trim().split('\n').pop()!);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'scratch', version: '1.0.0', private: true }));
  const packageDir = join(project, 'node_modules', '@blockstore', 'sdk');
  mkdirSync(packageDir, { recursive: true });
  execFileSync('tar', ['xzf', tarball, '-C', packageDir, '--strip-components=1']);
  const deps = Object.keys((JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
  for (const dep of deps) {
    mkdirSync(join(project, 'node_modules', dep, '..'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', dep), join(project, 'node_modules', dep));
  }
  return { tarball, packageDir };
}
