/** blockstore mirror's include/exclude globs on relative paths. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pathGlob } from '../../sdk/mirror';

test('* stays within a folder, ** crosses folders, ? is one character', () => {
  const m = (g: string, p: string) => pathGlob(g).test(p);
  assert.ok(m('*.jpg', 'a.jpg'));
  assert.not.ok(m('*.jpg', 'photos/a.jpg'));
  assert.ok(m('**/*.jpg', 'photos/2026/a.jpg'));
  assert.ok(m('**/*.jpg', 'a.jpg'), '**/ also matches no folder');
  assert.ok(m('photos/**', 'photos/2026/a.jpg'));
  assert.not.ok(m('photos/**', 'docs/a.jpg'));
  assert.ok(m('v?.txt', 'v1.txt'));
  assert.not.ok(m('v?.txt', 'v10.txt'));
  assert.ok(m('a+b(1).txt', 'a+b(1).txt'), 'regex characters are literal');
  assert.not.ok(m('.cache/**', 'xcache/a'));
});

test.run();
