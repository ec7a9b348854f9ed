/**
 * Option semantics shared with the Auth0 SPA SDK, its error classes and cache classes, and the
 * ICache-backed vault (custom `cache`, and the per-tab fallback when IndexedDB is unavailable).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CacheKey, fromAuth0, InMemoryCache, toAuth0, type TokenEntry } from '../../src/cache.js';
import * as errors from '../../src/errors.js';
import { normalizeOptions, OPTION_KEYS, resolveScope, warnUnsupported } from '../../src/options.js';
import { CacheVault } from '../../src/vault.js';

const ORIGIN = 'http://127.0.0.1:5173';
const base = { domain: 'http://127.0.0.1:3000', clientId: 'cid' };

test('a timeout of 0 means the default (as in Auth0), not an instant abort', () => {
  const o = normalizeOptions({ ...base, authorizeTimeoutInSeconds: 0, httpTimeoutInSeconds: 0 }, ORIGIN);
  assert.equal(o.authorizeTimeoutInSeconds, 60);
  assert.equal(o.httpTimeoutInSeconds, 10);
  assert.equal(normalizeOptions({ ...base, httpTimeoutInSeconds: 3 }, ORIGIN).httpTimeoutInSeconds, 3);
});

test('authorizationParams.scope per audience: the audience entry, else default; openid (+offline_access) always', () => {
  const o = normalizeOptions({ ...base, useRefreshTokens: true, authorizationParams: { audience: 'https://a', scope: { 'https://a': 'read:a', default: 'profile' } } }, ORIGIN);
  assert.equal(o.authorizationParams.scope, 'openid read:a offline_access', 'the configured audience uses its entry');
  assert.deepEqual(o.scopes, { 'https://a': 'read:a', default: 'profile' });
  assert.equal(resolveScope(true, o.scopes, undefined, 'https://b'), 'openid profile offline_access', 'another audience: default');
  assert.equal(resolveScope(false, o.scopes, 'write:a', 'https://a'), 'openid read:a write:a', 'call scopes add up');
  assert.equal(resolveScope(false, { 'https://a': 'x' }, undefined, 'https://b'), 'openid', 'no default entry: openid only (as Auth0)');
});

test('useFormData (default true), useMrrt, useCookiesForTransactions, cookieDomain, workerUrl, nowProvider, autoRenew', () => {
  const d = normalizeOptions(base, ORIGIN);
  assert.deepEqual([d.useFormData, d.useMrrt, d.useCookiesForTransactions, d.autoRenew, d.nowProvider], [true, false, false, 0, Date.now]);
  const now = (): number => 42_000;
  const o = normalizeOptions({ ...base, useFormData: false, useMrrt: true, useCookiesForTransactions: true, cookieDomain: '.example.com', workerUrl: '/w.js', nowProvider: now, autoRenew: true }, ORIGIN);
  assert.deepEqual([o.useFormData, o.useMrrt, o.useCookiesForTransactions, o.cookieDomain, o.workerUrl, o.nowProvider, o.autoRenew], [false, true, true, '.example.com', '/w.js', now, 60]);
  assert.equal(normalizeOptions({ ...base, autoRenew: 30 }, ORIGIN).autoRenew, 30);
  assert.deepEqual(normalizeOptions({ ...base }, ORIGIN).domain, base.domain, 'getConfiguration returns the domain as given');
});

test('unknown or unsupported options: one console warning naming each, once per page; known ones and false/undefined values silent', () => {
  const warned: string[] = [];
  const orig = console.warn;
  console.warn = (m: string) => void warned.push(m);
  try {
    warnUnsupported({ ...base, cacheLocation: 'memory', useDpop: true, legacySameSiteCookie: true, madeUp: 1, refreshTokenMode: undefined, useFormData: false });
    warnUnsupported({ madeUp: 2 });
  } finally {
    console.warn = orig;
  }
  assert.equal(warned.length, 2, warned.join('\n'));
  assert.match(warned[0]!, /"legacySameSiteCookie"/);
  assert.match(warned[1]!, /"madeUp"/);
  for (const k of ['cache', 'workerUrl', 'nowProvider', 'useFormData', 'useCookiesForTransactions', 'cookieDomain', 'useMrrt', 'autoRenew', 'useDpop']) assert.ok(OPTION_KEYS.includes(k), k);
});

test("error classes: Auth0's error codes and fields, instanceof along the hierarchy, names", () => {
  const mfa = errors.errorFromBody({ error: 'mfa_required', error_description: 'Multifactor authentication required', mfa_token: 'mt', mfa_requirements: { challenge: [{ type: 'otp' }] } }, '');
  assert.ok(mfa instanceof errors.MfaRequiredError && mfa instanceof errors.GenericError && mfa instanceof Error);
  assert.equal((mfa as errors.MfaRequiredError).mfa_token, 'mt');
  assert.deepEqual((mfa as errors.MfaRequiredError).mfa_requirements, { challenge: [{ type: 'otp' }] });
  const cases: [errors.GenericError, string][] = [
    [new errors.MissingScopesError('https://a', 'read:a'), 'missing_scopes'],
    [new errors.MissingRefreshTokenError('https://a', 'openid'), 'missing_refresh_token'],
    [new errors.InvalidConfigurationError('bad', 'fix it'), 'invalid_configuration'],
    [new errors.UseDpopNonceError('n'), 'use_dpop_nonce'],
    [new errors.TimeoutError(), 'timeout'],
    [new errors.PopupOpenError(), 'popup_open'],
    [new errors.ConnectError('e', 'd', 'google', 's'), 'e'],
    [errors.GenericError.fromPayload({ error: 'x', error_description: 'y' }), 'x'],
  ];
  for (const [e, code] of cases) {
    assert.equal(e.error, code);
    assert.ok(e instanceof errors.GenericError);
    assert.equal(e.name, e.constructor.name);
  }
  const p = new errors.PopupTimeoutError({} as Window);
  assert.ok(p instanceof errors.TimeoutError);
  assert.equal(new errors.InvalidConfigurationError('bad', 'fix it').suggestion, 'fix it');
  assert.equal(new errors.UseDpopNonceError('n').newDpopNonce, 'n');
  assert.equal(new errors.MissingScopesError('https://a', 'read:a').scope, 'read:a');
});

test("CacheKey, InMemoryCache and the Auth0 entry format", async () => {
  const k = new CacheKey({ clientId: 'cid', audience: 'https://a', scope: 'openid x' });
  assert.equal(k.toKey(), '@@auth0spajs@@::cid::https://a::openid x');
  const back = CacheKey.fromKey(k.toKey());
  assert.deepEqual([back.prefix, back.clientId, back.audience, back.scope], ['@@auth0spajs@@', 'cid', 'https://a', 'openid x']);
  assert.equal(CacheKey.fromCacheEntry({ client_id: 'c', audience: 'a', scope: 's', access_token: '', expires_in: 1 }).toKey(), '@@auth0spajs@@::c::a::s');
  const c = new InMemoryCache().enclosedCache;
  await c.set('a', 1);
  assert.equal(await c.get('a'), 1);
  assert.deepEqual(await c.allKeys(), ['a']);
  await c.remove('a');
  assert.equal(await c.get('a'), undefined);
  const e: TokenEntry = { audience: 'https://a', scope: 's', access_token: 'at', token_type: 'Bearer', expires_in: 60, expiresAt: 100, obtainedAt: 5, refresh_token: 'rt' };
  const w = toAuth0(e, 'cid');
  assert.equal(w.expiresAt, 100);
  assert.equal(w.body.client_id, 'cid');
  assert.equal(w.body.refresh_token, 'rt');
  assert.deepEqual(fromAuth0(w), { ...e, client_id: 'cid' } as TokenEntry);
  // An Auth0 entry stripped at expiry (refresh token only).
  const stripped = fromAuth0({ body: { refresh_token: 'r', audience: 'default', scope: 's' }, expiresAt: 0 });
  assert.deepEqual([stripped.access_token, stripped.refresh_token, stripped.obtainedAt], ['', 'r', 0]);
});

test('CacheVault over an ICache: Auth0 keys, rotation fan-out, clear keeps one key, the user', async () => {
  const cache = new InMemoryCache().enclosedCache;
  const v = new CacheVault(cache, '@@ratchet@@::cid::');
  const entry = (aud: string, rt: string): TokenEntry => ({ audience: aud, scope: 'openid', access_token: `at-${aud}`, token_type: 'Bearer', expires_in: 60, expiresAt: 1, obtainedAt: 1, refresh_token: rt });
  await v.put('@@ratchet@@::cid::A::openid', entry('A', 'rt1'));
  await v.put('@@ratchet@@::cid::B::openid', entry('B', 'rt1'));
  await v.put('@@ratchet@@::cid::B::openid', entry('B', 'rt2'), 'rt1');
  const all = await v.all();
  assert.deepEqual(all.map((e) => [e.audience, e.refresh_token]).sort(), [['A', 'rt2'], ['B', 'rt2']], 'the rotation reached A');
  assert.deepEqual((await cache.allKeys()).sort(), ['@@auth0spajs@@::cid::A::openid', '@@auth0spajs@@::cid::B::openid']);
  await v.setUser({ id_token: 'x.y.z', claims: { iss: 'i', sub: 's', aud: 'cid', exp: 1, iat: 1 }, user: { sub: 's' }, obtainedAt: 1 });
  assert.equal((await v.user())?.user.sub, 's');
  assert.ok(await cache.get('@@auth0spajs@@::cid::@@user@@'), 'the user in Auth0 format');
  await v.clear('@@ratchet@@::cid::A::openid');
  assert.deepEqual((await v.all()).map((e) => e.audience), ['A']);
  assert.equal(await v.user(), undefined);
  await v.clear();
  assert.deepEqual(await cache.allKeys(), []);
});
