/**
 * The Auth0 SDK methods and options added for compatibility, against the real server:
 * getTokenWithPopup, revokeRefreshToken, getConfiguration, onRedirect, handleRedirectCallback's
 * result, useFormData: false, useCookiesForTransactions, a custom cache, unknown options.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUDIENCE, delta, EMAIL, login, openApp, submitLogin, vault, withEnv } from './harness.js';

type W = typeof window & { popupToken: Promise<unknown>; result: unknown };
const jwtPayload = (t: string): Record<string, unknown> => JSON.parse(Buffer.from(t.split('.')[1] ?? '', 'base64url').toString('utf8'));

test('getTokenWithPopup signs in through a popup and returns the access token of its audience', () =>
  withEnv({}, async ({ spa, page }) => {
    await openApp(page, spa.origin);
    await page.evaluate(() => window.make({ cacheLocation: 'memory', useRefreshTokens: true }));
    assert.equal(await page.evaluate(() => window.auth0.getTokenWithPopup({ cacheMode: 'cache-only' })), undefined, 'cache-only: no popup, nothing cached');
    const popupPromise = page.waitForEvent('popup');
    await page.evaluate(() => {
      (window as W).popupToken = window.auth0.getTokenWithPopup().catch((e) => ({ error: e.error }));
    });
    const popup = await popupPromise;
    await submitLogin(popup);
    const token = await page.evaluate(() => (window as W).popupToken);
    assert.equal(typeof token, 'string', JSON.stringify(token));
    assert.equal((jwtPayload(token as string).aud as string[])[0], AUDIENCE);
    assert.equal((await page.evaluate(() => window.auth0.getUser()))?.email, EMAIL);
    assert.equal(await page.evaluate(() => window.auth0.getTokenSilently()), token, 'the same token is cached');
  }));

test('revokeRefreshToken revokes the stored refresh token at /oauth/revoke and forgets it; access tokens stay', () =>
  withEnv({}, async ({ spa, page, server }) => {
    await login(page, spa.origin, { cacheLocation: 'localstorage', useRefreshTokens: true });
    const rt = (await vault(page))[0]?.refresh_token;
    assert.ok(rt);
    const revokes: string[] = [];
    page.on('request', (r) => {
      if (r.url() === `${server.url}/oauth/revoke`) revokes.push(r.postData() ?? '');
    });
    const r = await page.evaluate(async (aud) => {
      await window.auth0.revokeRefreshToken({ audience: aud });
      return {
        cached: await window.auth0.getTokenSilently(),
        err: await window.errorOf(window.auth0.getTokenSilently({ cacheMode: 'off' })),
        authenticated: await window.auth0.isAuthenticated(),
      };
    }, AUDIENCE);
    assert.equal(revokes.length, 1);
    const body = new URLSearchParams(revokes[0]);
    assert.equal(body.get('token'), rt);
    assert.equal(body.get('token_type_hint'), 'refresh_token');
    assert.equal(body.get('client_id'), server.clientId);
    const replay = await server.token({ grant_type: 'refresh_token', client_id: server.clientId, refresh_token: rt! });
    assert.equal(replay.status, 403, 'the server revoked it');
    assert.equal(typeof r.cached, 'string', 'the access token is still cached');
    assert.equal(r.err?.error, 'missing_refresh_token', 'the SDK forgot the refresh token');
    assert.equal(r.authenticated, true);
    assert.equal((await vault(page)).some((row) => row.refresh_token), false);
  }));

test('revokeRefreshToken in memory mode goes through the token worker', () =>
  withEnv({}, async ({ spa, page, server }) => {
    await login(page, spa.origin, { cacheLocation: 'memory', useRefreshTokens: true });
    const revokes: string[] = [];
    page.on('request', (r) => {
      if (r.url() === `${server.url}/oauth/revoke`) revokes.push(r.postData() ?? '');
    });
    const err = await page.evaluate(async () => {
      await window.auth0.revokeRefreshToken();
      return window.errorOf(window.auth0.getTokenSilently({ cacheMode: 'off' }));
    });
    assert.equal(revokes.length, 1);
    assert.equal(err?.error, 'missing_refresh_token');
  }));

test('getConfiguration, onRedirect, handleRedirectCallback result, JSON bodies (useFormData: false), transaction cookie', () =>
  withEnv({}, async ({ spa, page, server, context }) => {
    await openApp(page, spa.origin);
    const opts = { cacheLocation: 'localstorage', useRefreshTokens: true, useFormData: false, useCookiesForTransactions: true };
    const conf = await page.evaluate(async (o) => {
      await window.make(o);
      const c = window.auth0.getConfiguration();
      // Deprecated onRedirect receives the URL instead of a navigation.
      let seen = '';
      await window.auth0.loginWithRedirect({ onRedirect: async (u: string) => void (seen = u), appState: { to: '/x' } } as never);
      return { c, seen };
    }, opts);
    assert.deepEqual(conf.c, { domain: server.url, clientId: server.clientId });
    assert.ok(conf.seen.startsWith(`${server.url}/authorize?`), conf.seen);
    const cookie = (await context.cookies(spa.origin)).find((c) => c.name === `ratchet.spajs.txs.${server.clientId}`);
    assert.ok(cookie, 'the transaction is in a cookie');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'not in sessionStorage');

    const bodies: { type: string; body: string }[] = [];
    page.on('request', (r) => {
      if (r.url() === `${server.url}/oauth/token`) bodies.push({ type: r.headers()['content-type'] ?? '', body: r.postData() ?? '' });
    });
    await page.goto(conf.seen);
    await submitLogin(page);
    await page.waitForURL((u) => u.origin === spa.origin && u.searchParams.has('code'));
    await page.waitForFunction(() => window.ready === true);
    const result = await page.evaluate(async (o) => {
      await window.make(o);
      return window.auth0.handleRedirectCallback();
    }, opts);
    assert.deepEqual(result, { appState: { to: '/x' }, response_type: 'code' });
    assert.equal((await context.cookies(spa.origin)).some((c) => c.name.startsWith('ratchet.spajs.txs.')), false, 'the cookie is removed');
    await page.evaluate(() => window.auth0.getTokenSilently({ cacheMode: 'off' }));
    assert.equal(bodies.length, 2);
    for (const b of bodies) {
      assert.equal(b.type, 'application/json');
      assert.ok(JSON.parse(b.body).grant_type, b.body);
    }
    assert.equal(JSON.parse(bodies[1]!.body).grant_type, 'refresh_token');
  }));

test('a custom cache (LocalStorageCache) holds tokens in Auth0 format and restores the session; unsupported options are named in a warning', () =>
  withEnv({}, async ({ spa, page, console: lines }) => {
    type Sdk = { sdk: { LocalStorageCache: new () => unknown }; make: (o: Record<string, unknown>) => Promise<boolean> };
    const opts = { cacheLocation: 'memory', useRefreshTokens: true, somethingElse: 1, legacySameSiteCookie: true };
    await openApp(page, spa.origin);
    await page.evaluate(async (o) => {
      const w = window as unknown as Sdk;
      await w.make({ ...o, cache: new w.sdk.LocalStorageCache() });
    }, opts);
    await page.evaluate(() => void window.auth0.loginWithRedirect()).catch(() => undefined);
    await submitLogin(page);
    await page.waitForURL((u) => u.origin === spa.origin && u.searchParams.has('code'));
    await page.waitForFunction(() => window.ready === true);
    const r = await page.evaluate(async (o) => {
      const w = window as unknown as Sdk;
      await w.make({ ...o, cache: new w.sdk.LocalStorageCache() });
      await window.auth0.handleRedirectCallback();
      const keys = Object.keys(localStorage).filter((k) => k.startsWith('@@auth0spajs@@'));
      const entry = keys.map((k) => JSON.parse(localStorage.getItem(k)!)).find((v) => v.body?.access_token);
      await window.auth0.getTokenSilently({ cacheMode: 'off' });
      return { keys, entry, user: await window.auth0.getUser() };
    }, opts);
    assert.ok(r.keys.some((k) => k.endsWith('::@@user@@')), JSON.stringify(r.keys));
    assert.equal(typeof r.entry?.body?.refresh_token, 'string', 'Auth0 format: the refresh token is in the cache entry body');
    assert.equal(typeof r.entry?.expiresAt, 'number');
    assert.equal(r.user?.email, EMAIL);
    // Reload: the session comes back from the cache, and its refresh token still rotates.
    await page.reload();
    await page.waitForFunction(() => window.ready === true);
    const after = await page.evaluate(async (o) => {
      const w = window as unknown as Sdk;
      await w.make({ ...o, cache: new w.sdk.LocalStorageCache() });
      return { authenticated: await window.auth0.isAuthenticated(), err: await window.errorOf(window.auth0.getTokenSilently({ cacheMode: 'off' })) };
    }, opts);
    assert.equal(after.authenticated, true);
    assert.equal(after.err, null);
    assert.ok(lines.some((l) => /option "somethingElse" is not supported/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /option "legacySameSiteCookie" is not supported/.test(l)));
    assert.ok(!lines.some((l) => /option "cache"/.test(l)), 'known options are not reported');
  }));

test('nowProvider drives cache expiry; a call timeoutInSeconds bounds its refresh request', () =>
  withEnv({ tokenLifetime: 3600 }, async ({ spa, page, server }) => {
    const opts = { cacheLocation: 'localstorage', useRefreshTokens: true };
    await login(page, spa.origin, opts);
    const m0 = await server.metrics();
    await page.evaluate(() => window.auth0.getTokenSilently());
    assert.equal(delta(await server.metrics(), m0, 'sertft'), 0, 'a one-hour token is served from the cache');
    // Two hours from now, by the app's clock: the cached token counts as expired and is refreshed.
    await page.evaluate(async (o) => {
      const w = window as unknown as { make: (o: Record<string, unknown>) => Promise<boolean> };
      await w.make({ ...o, nowProvider: () => Date.now() + 2 * 3600_000 });
      await window.auth0.getTokenSilently();
    }, opts);
    const m1 = await server.metrics();
    assert.ok(delta(m1, m0, 'sertft') >= 1, 'refreshed because of nowProvider');

    // The token endpoint answers after 3 s; a call with timeoutInSeconds: 1 gives up after 1 s.
    await page.route(`${server.url}/oauth/token`, async (route) => {
      await new Promise((r) => setTimeout(r, 3000));
      await route.continue().catch(() => undefined);
    });
    const t0 = Date.now();
    const err = await page.evaluate(() => window.errorOf(window.auth0.getTokenSilently({ cacheMode: 'off', timeoutInSeconds: 1 })));
    const took = Date.now() - t0;
    assert.equal(err?.error, 'timeout');
    assert.ok(took < 2800, `bounded by timeoutInSeconds (${took} ms)`);
  }));

test('an authorization response naming another issuer is refused (RFC 9207 mix-up defence); the real one carries iss', () =>
  withEnv({}, async ({ spa, server, page }) => {
    await openApp(page, spa.origin);
    await page.evaluate(() => window.make({}));
    await page.evaluate(() => void window.auth0.loginWithRedirect()).catch(() => undefined);
    await submitLogin(page);
    await page.waitForURL((u) => u.origin === spa.origin && u.searchParams.has('code'));
    const callback = new URL(page.url());
    assert.equal(callback.searchParams.get('iss'), `${server.url}/`, 'the server names itself (RFC 9207)');
    await page.waitForFunction(() => window.ready === true);
    callback.searchParams.set('iss', 'https://evil.example/');
    const refused = await page.evaluate(async (u) => {
      await window.make({});
      return window.auth0.handleRedirectCallback(u).then(
        () => 'accepted',
        (e: { error?: string; message?: string }) => `${e.error}: ${e.message}`,
      );
    }, callback.toString());
    assert.equal(refused, 'invalid_request: Issuer mismatch');
    assert.equal(await page.evaluate(() => window.auth0.getUser()), undefined, 'nothing stored');
  }));
