/**
 * The metadata node's table read cache: bounded by bytes, least recently
 * used out first, and never filled from a read that a landed change raced.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ReadCache } from '../../meta/store/read-cache';

test('a hit returns the cached value, absent keys included', () => {
  const c = new ReadCache(1 << 20);
  c.fill('t:a', 'A', c.generation);
  c.fill('t:gone', undefined, c.generation);
  assert.ok(c.has('t:a') && c.has('t:gone'));
  assert.is(c.get('t:a'), 'A');
  assert.is(c.get('t:gone'), undefined);
  assert.not.ok(c.has('t:other'));
});

test('a read that began before a change landed does not fill the cache', () => {
  const c = new ReadCache(1 << 20);
  const since = c.generation;
  c.landed([['t:a', 'new']]);
  c.fill('t:a', 'old', since);
  assert.is(c.get('t:a'), 'new');
  const since2 = c.generation;
  c.clear();
  c.fill('t:b', 'old', since2);
  assert.not.ok(c.has('t:b'));
});

test('landed changes overwrite and delete', () => {
  const c = new ReadCache(1 << 20);
  c.fill('t:a', 'A', c.generation);
  c.landed([
    ['t:a', undefined],
    ['t:b', 'B'],
  ]);
  assert.ok(c.has('t:a'));
  assert.is(c.get('t:a'), undefined);
  assert.is(c.get('t:b'), 'B');
});

test('bounded by bytes: the least recently used entries go first', () => {
  const c = new ReadCache(700); // four entries of this size (170 bytes each, estimated)
  for (const k of ['t:1', 't:2', 't:3', 't:4']) c.fill(k, 'x'.repeat(50), c.generation);
  c.get('t:1'); // used: t:2 is now the oldest
  c.fill('t:5', 'x'.repeat(50), c.generation);
  assert.ok(c.has('t:1'));
  assert.not.ok(c.has('t:2'));
  assert.ok(c.has('t:5'));
  assert.ok(c.size <= 4);
});

test('a zero bound caches nothing', () => {
  const c = new ReadCache(0);
  c.fill('t:a', 'A', c.generation);
  c.landed([['t:b', 'B']]);
  assert.is(c.size, 0);
});

test.run();
