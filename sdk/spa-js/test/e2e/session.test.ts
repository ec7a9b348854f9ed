import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUDIENCE, EMAIL, login, openApp, submitLogin, vault, withEnv } from './harness.js';

const LS = { cacheLocation: 'localstorage', useRefreshTokens: true };

test('localstorage: a reload keeps the session', () =>
  withEnv({ tokenLifetime: 3600 }, async ({ spa, page }) => {
    await login(page, spa.origin, LS);
    const before = await page.evaluate(() => window.auth0.getTokenSilently());
    await page.reload();
    await page.waitForFunction(() => window.ready === true);
    const after = await page.evaluate(async (o) => {
      await window.make(o);
      return {
        authenticated: await window.auth0.isAuthenticated(),
        user: await window.auth0.getUser(),
        token: await window.auth0.getTokenSilently({ cacheMode: 'cache-only' }),
        claims: await window.auth0.getIdTokenClaims(),
      };
    }, LS);
    assert.equal(after.authenticated, true);
    assert.equal(after.user?.email, EMAIL);
    assert.equal(after.token, before, 'the long-lived access token is served from the persisted cache');
    assert.equal(typeof after.claims?.__raw, 'string');
  }));

test('localstorage with short-lived tokens: a reload refreshes and keeps the session', () =>
  withEnv({ tokenLifetime: 5 }, async ({ spa, page, server }) => {
    await login(page, spa.origin, LS);
    const m0 = await server.metrics();
    await page.reload();
    await page.waitForFunction(() => window.ready === true);
    const t = await page.evaluate(async (o) => {
      await window.make(o); // checkSession refreshes (a 5 s token counts as expired)
      return { authenticated: await window.auth0.isAuthenticated(), token: await window.auth0.getTokenSilently({ cacheMode: 'cache-only', detailedResponse: true }) };
    }, LS);
    assert.equal(t.authenticated, true);
    const m1 = await server.metrics();
    assert.equal((m1.sertft ?? 0) - (m0.sertft ?? 0), 1, 'checkSession after reload did one refresh');
    assert.equal(m1.ferrt ?? 0, 0);
  }));

test('silent authentication in a hidden iframe (prompt=none, web_message) restores a session', () =>
  withEnv({}, async ({ spa, page, server }) => {
    const opts = { cacheLocation: 'memory', useRefreshTokens: false };
    await login(page, spa.origin, opts);
    assert.equal(await page.evaluate(() => window.auth0.isAuthenticated()), true);

    const silent: string[] = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (r.url().startsWith(`${server.url}/authorize`) && u.searchParams.get('prompt') === 'none') silent.push(r.url());
    });
    // Memory cache: a reload forgets everything; createAuth0Client -> checkSession -> iframe.
    await page.reload();
    await page.waitForFunction(() => window.ready === true);
    const r = await page.evaluate(async (o) => {
      await window.make(o);
      return {
        authenticated: await window.auth0.isAuthenticated(),
        user: await window.auth0.getUser(),
        token: await window.auth0.getTokenSilently({ cacheMode: 'cache-only', detailedResponse: true }),
        storage: JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
      };
    }, opts);
    assert.equal(r.authenticated, true);
    assert.equal(r.user?.email, EMAIL);
    assert.equal(typeof (r.token as { access_token?: string }).access_token, 'string');
    assert.equal(silent.length, 1, 'one silent /authorize request');
    const q = new URL(silent[0]!).searchParams;
    assert.equal(q.get('response_mode'), 'web_message');
    assert.equal(q.get('audience'), AUDIENCE);
    assert.ok(!r.storage.includes((r.token as { access_token: string }).access_token), 'memory mode keeps tokens out of web storage');

    // A browser without a server session gets login_required quickly (no timeout).
    const other = await page.context().browser()!.newContext();
    try {
      const p2 = await other.newPage();
      await openApp(p2, spa.origin);
      const started = Date.now();
      const err = await p2.evaluate(async (o) => {
        await window.make(o);
        return window.errorOf(window.auth0.getTokenSilently());
      }, opts);
      assert.equal(err?.error, 'login_required');
      assert.ok(Date.now() - started < 10_000, 'login_required arrives by web_message, not by timeout');
      assert.equal(await p2.evaluate(() => window.auth0.isAuthenticated()), false);
    } finally {
      await other.close();
    }
  }));

test('sign-out ends the session: local state, refresh token and server session', () =>
  withEnv({ tokenLifetime: 5 }, async ({ spa, page, server }) => {
    await login(page, spa.origin, LS);
    const rows = await vault(page);
    const rt = rows.find((r) => r.refresh_token)?.refresh_token;
    assert.ok(rt, 'refresh token stored');

    const loggedOut = page.waitForResponse((r) => r.url().startsWith(`${server.url}/v2/logout?`));
    await page.evaluate(() => void window.auth0.logout({ logoutParams: { returnTo: `${location.origin}/app.html` } })).catch(() => undefined);
    const res = await loggedOut;
    const q = new URL(res.url()).searchParams;
    assert.equal(q.get('client_id'), server.clientId);
    // The SDK names the session with id_token_hint, so the server ends it without asking the
    // user to confirm (RP-Initiated Logout 1.0 §2) and redirects at once.
    assert.ok(q.get('id_token_hint')?.split('.').length === 3, 'id_token_hint is the ID token');
    assert.equal(res.status(), 302);
    assert.equal(res.headers().location, `${spa.origin}/app.html`);
    await page.waitForURL(`${spa.origin}/app.html`, { waitUntil: 'load' });
    await page.waitForFunction(() => window.ready === true);

    const after = await page.evaluate(async (o) => {
      await window.make(o);
      return {
        authenticated: await window.auth0.isAuthenticated(),
        err: await window.errorOf(window.auth0.getTokenSilently()),
        ls: Object.keys(localStorage).filter((k) => k.startsWith('@@ratchet@@')),
      };
    }, LS);
    assert.equal(after.authenticated, false);
    assert.equal(after.err?.error, 'missing_refresh_token');
    assert.deepEqual(after.ls, []);
    assert.deepEqual(await vault(page), []);

    // The refresh token was revoked on sign-out.
    const replay = await server.token({ grant_type: 'refresh_token', client_id: server.clientId, refresh_token: rt! });
    assert.equal(replay.status, 403, JSON.stringify(replay.json));
    assert.equal(replay.json.error, 'invalid_grant');

    // The server session is gone: silent authentication answers login_required.
    const silent = await page.evaluate(async () => {
      await window.make({ cacheLocation: 'memory', useRefreshTokens: false });
      return window.errorOf(window.auth0.getTokenSilently());
    });
    assert.equal(silent?.error, 'login_required');
  }));

test('loginWithPopup signs in through a popup (response_mode=web_message)', () =>
  withEnv({}, async ({ spa, page }) => {
    await openApp(page, spa.origin);
    await page.evaluate(() => window.make({ cacheLocation: 'memory', useRefreshTokens: true }));
    const popupPromise = page.waitForEvent('popup');
    await page.evaluate(() => {
      (window as unknown as { popupLogin: Promise<unknown> }).popupLogin = window.errorOf(window.auth0.loginWithPopup());
    });
    const popup = await popupPromise;
    await submitLogin(popup);
    const err = await page.evaluate(() => (window as unknown as { popupLogin: Promise<unknown> }).popupLogin);
    assert.equal(err, null);
    assert.equal(await page.evaluate(() => window.auth0.isAuthenticated()), true);
    assert.equal((await page.evaluate(() => window.auth0.getUser()))?.email, EMAIL);
    await popup.waitForEvent('close', { timeout: 5000 }).catch(() => undefined);
    assert.equal(popup.isClosed(), true, 'the SDK closed the popup');
    // The refresh token from the popup's code exchange landed in the worker: a refresh works.
    const t = await page.evaluate(() => window.errorOf(window.auth0.getTokenSilently({ cacheMode: 'off' })));
    assert.equal(t, null);
  }));
