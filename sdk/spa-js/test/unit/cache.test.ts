import assert from 'node:assert/strict';
import { test } from 'node:test';
import { entryKey, findEntry, isExpired, LocalStore, userKey } from '../../src/cache.js';

test('entries are treated as expired 60 s early', () => {
  const now = 1_000_000;
  assert.equal(isExpired({ expiresAt: now + 61 }, now), false);
  assert.equal(isExpired({ expiresAt: now + 60 }, now), false);
  assert.equal(isExpired({ expiresAt: now + 59 }, now), true);
  assert.equal(isExpired({ expiresAt: now + 5 }, now), true, 'short-lived tokens are never served from cache');
  assert.equal(isExpired({ expiresAt: NaN }, now), true, 'a broken expiry is expired, not eternal');
});

test('cache keys: client, audience (default), scope', () => {
  assert.equal(entryKey('cid', undefined, 'openid profile'), '@@ratchet@@::cid::default::openid profile');
  assert.equal(entryKey('cid', 'https://api', 'openid'), '@@ratchet@@::cid::https://api::openid');
  assert.equal(userKey('cid'), '@@ratchet@@::cid::@@user@@');
});

test('findEntry: exact match first, then a scope superset of the same audience', () => {
  const a = { audience: 'api', scope: 'openid profile email offline_access', id: 'a' };
  const b = { audience: 'api', scope: 'openid', id: 'b' };
  const c = { audience: 'default', scope: 'openid profile', id: 'c' };
  assert.equal(findEntry([a, b, c], 'api', 'openid')?.id, 'b');
  assert.equal(findEntry([a, b, c], 'api', 'openid email')?.id, 'a');
  assert.equal(findEntry([a, b, c], undefined, 'openid profile')?.id, 'c');
  assert.equal(findEntry([a, b, c], 'other', 'openid'), undefined);
  assert.equal(findEntry([a, b, c], undefined, 'openid email'), undefined);
});

class FakeStorage implements Storage {
  private m = new Map<string, string>();
  get length(): number {
    return this.m.size;
  }
  clear(): void {
    this.m.clear();
  }
  getItem(k: string): string | null {
    return this.m.get(k) ?? null;
  }
  key(i: number): string | null {
    return [...this.m.keys()][i] ?? null;
  }
  removeItem(k: string): void {
    this.m.delete(k);
  }
  setItem(k: string, v: string): void {
    this.m.set(k, v);
  }
  [name: string]: unknown;
}

test('LocalStore returns the newest of localStorage and the broadcast mirror', () => {
  const ls = new FakeStorage();
  const s = new LocalStore(ls);
  s.set('k', { obtainedAt: 1 });
  assert.deepEqual(s.get('k'), { obtainedAt: 1 });
  s.mirror('k', { obtainedAt: 5 }); // another tab's newer result, localStorage not caught up
  assert.deepEqual(s.get('k'), { obtainedAt: 5 });
  ls.setItem('k', JSON.stringify({ obtainedAt: 9 }));
  assert.deepEqual(s.get('k'), { obtainedAt: 9 });
  s.mirror('k', { obtainedAt: 2 }); // older broadcast ignored
  assert.deepEqual(s.get('k'), { obtainedAt: 9 });
});

test('LocalStore.clear: local removes persisted copies; remote ignores stale reads', () => {
  const ls = new FakeStorage();
  const s = new LocalStore(ls);
  s.set('p::a', { obtainedAt: 1 });
  s.set('p::b', { obtainedAt: 1 });
  s.set('q::c', { obtainedAt: 1 });
  s.clear('p::', 10, 'p::b');
  assert.equal(ls.getItem('p::a'), null);
  assert.deepEqual(s.get('p::b'), { obtainedAt: 1 }, 'kept key survives and no clearedAt is set');
  const other = new LocalStore(ls);
  other.clear('p::', 10, undefined, false); // broadcast from a tab that cleared at t=10
  assert.ok(ls.getItem('p::b'), 'remote clear leaves storage alone');
  assert.equal(other.get('p::b'), undefined, 'values obtained before the clear are ignored');
  assert.deepEqual(other.get('q::c'), { obtainedAt: 1 }, 'other prefixes untouched');
  s.set('p::b', { obtainedAt: 11 });
  assert.deepEqual(other.get('p::b'), { obtainedAt: 11 }, 'a later sign-in is visible');
  s.clear('p::', 20);
  assert.equal(s.get('p::b'), undefined);
  assert.equal(ls.getItem('p::b'), null);
});

test('LocalStore without localStorage (memory modes): clear keeps the given key', () => {
  const s = new LocalStore();
  s.set('p::a', { obtainedAt: 1 });
  s.set('p::b', { obtainedAt: 1 });
  s.clear('p::', 0, 'p::b');
  assert.deepEqual(s.keys(), ['p::b']);
});
