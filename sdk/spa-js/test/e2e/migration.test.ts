/**
 * Moving from `@auth0/auth0-spa-js` without signing anyone out: a real session of the pinned
 * Auth0 SDK (localstorage cache, refresh tokens) is picked up by this SDK on its first start,
 * refresh token included, and the Auth0 entries are removed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { delta, EMAIL, openApp, submitLogin, vault, withEnv } from './harness.js';

const PAGE = '/auth0.html';
type A0 = {
  make(o: Record<string, unknown>): Promise<boolean>;
  auth0: { loginWithRedirect(): Promise<void>; handleRedirectCallback(): Promise<unknown>; getTokenSilently(o?: unknown): Promise<string> };
  auth0Storage(): { key: string; value: { body?: { refresh_token?: string; access_token?: string } } }[];
};
const a0 = (): A0 => window as unknown as A0;

test("migration: a session of the unmodified Auth0 SDK (localstorage) survives the switch to this SDK, and its refresh token rotates", () =>
  withEnv({ pages: [PAGE] }, async ({ spa, page, server }) => {
    const opts = { cacheLocation: 'localstorage', useRefreshTokens: true };
    // 1. Sign in with Auth0's SDK, with an audience (as apps do).
    const auth0Opts = { ...opts, authorizationParams: { audience: server.audience } };
    await page.goto(`${spa.origin}${PAGE}`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    await page.evaluate((o) => a0().make(o), auth0Opts);
    await page.evaluate(() => void a0().auth0.loginWithRedirect()).catch(() => undefined);
    await submitLogin(page);
    await page.waitForURL((u) => u.pathname === PAGE && u.searchParams.has('code'));
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    const auth0Token = await page.evaluate(async (o) => {
      await a0().make(o);
      await a0().auth0.handleRedirectCallback();
      return a0().auth0.getTokenSilently();
    }, auth0Opts);
    const auth0Rows = await page.evaluate(() => a0().auth0Storage());
    const auth0Rt = auth0Rows.map((r) => r.value.body?.refresh_token).find(Boolean);
    assert.ok(auth0Rt, 'the Auth0 SDK stored a refresh token in localStorage');

    // 2. The app now loads this SDK (same origin, same client and audience).
    await openApp(page, spa.origin);
    const m0 = await server.metrics();
    const r = await page.evaluate(async (o) => {
      await window.make(o);
      return {
        authenticated: await window.auth0.isAuthenticated(),
        user: await window.auth0.getUser(),
        cached: await window.auth0.getTokenSilently(),
        auth0Keys: Object.keys(localStorage).filter((k) => k.startsWith('@@auth0spajs@@')),
      };
    }, opts);
    assert.equal(r.authenticated, true, 'still signed in');
    assert.equal(r.user?.email, EMAIL);
    assert.equal(r.cached, auth0Token, "the Auth0 SDK's access token is served from the cache");
    assert.deepEqual(r.auth0Keys, [], 'the Auth0 entries were removed');
    assert.equal((await vault(page))[0]?.refresh_token, auth0Rt, 'the refresh token moved into the IndexedDB vault');
    assert.equal(delta(await server.metrics(), m0, 'sertft'), 0, 'no refresh needed to start');

    // 3. The next refresh rotates the migrated refresh token.
    await page.evaluate(() => window.auth0.getTokenSilently({ cacheMode: 'off' }));
    const m1 = await server.metrics();
    assert.equal(delta(m1, m0, 'sertft'), 1);
    assert.equal(m1.ferrt ?? 0, 0);
    const rotated = (await vault(page))[0]?.refresh_token;
    assert.ok(rotated && rotated !== auth0Rt, 'rotated');
    const ev = await page.evaluate(() => window.events.filter((e) => e.grant === 'refresh_token'));
    assert.equal(ev.at(-1)?.rotated, true);
    // The Auth0 SDK's token is now the previous one of the family: presenting it is reuse.
    const replay = await server.token({ grant_type: 'refresh_token', client_id: server.clientId, refresh_token: auth0Rt });
    assert.equal(replay.status, 403);
  }));
