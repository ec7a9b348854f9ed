/**
 * The SDK never fails to start: a Content-Security-Policy without `blob:` in `worker-src` (with
 * and without `workerUrl`), IndexedDB unavailable, and sign-out reaching every tab in memory mode.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { delta, EMAIL, login, openApp, watch, withEnv } from './harness.js';

const MEMORY_RT = { cacheLocation: 'memory', useRefreshTokens: true };

test("CSP worker-src 'self' with workerUrl: the token worker runs from the same-origin file", () =>
  withEnv({}, async ({ spa, page, server, console: lines }) => {
    const opts = { ...MEMORY_RT, workerUrl: '/ratchet-spa.worker.js' };
    await login(page, spa.origin, opts, '/csp.html');
    assert.equal(page.workers().length, 1, 'one dedicated worker');
    assert.match(page.workers()[0]!.url(), /\/ratchet-spa\.worker\.js$/);
    const m0 = await server.metrics();
    const r = await page.evaluate(async () => {
      const a = await window.auth0.getTokenSilently({ cacheMode: 'off' });
      const b = await window.auth0.getTokenSilently({ cacheMode: 'off' });
      return { a, b, user: await window.auth0.getUser() };
    });
    assert.notEqual(r.a, r.b);
    assert.equal(r.user?.email, EMAIL);
    const m1 = await server.metrics();
    assert.equal(delta(m1, m0, 'sertft'), 2, 'two refreshes through the worker');
    assert.equal(m1.ferrt ?? 0, 0);
    assert.ok(!lines.some((l) => /no token worker/.test(l)), `no fallback warning:\n${lines.join('\n')}`);
    // The refresh token never reached page script: it is in no storage the page can read.
    const visible = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    assert.doesNotMatch(visible, /refresh_token/);
  }));

test("CSP worker-src 'self' without workerUrl: the blob: worker is refused, the SDK falls back to the main thread with a warning", () =>
  withEnv({}, async ({ spa, page, server, console: lines }) => {
    await login(page, spa.origin, MEMORY_RT, '/csp.html');
    assert.equal(page.workers().length, 0, 'the CSP refused the blob: worker');
    assert.equal(lines.filter((l) => /console\.warning.*no token worker/.test(l)).length >= 1, true, `a warning:\n${lines.join('\n')}`);
    const m0 = await server.metrics();
    const r = await page.evaluate(async () => ({
      authenticated: await window.auth0.isAuthenticated(),
      a: await window.auth0.getTokenSilently({ cacheMode: 'off' }),
      b: await window.auth0.getTokenSilently({ cacheMode: 'off' }),
    }));
    assert.equal(r.authenticated, true);
    assert.notEqual(r.a, r.b);
    const m1 = await server.metrics();
    assert.equal(delta(m1, m0, 'sertft'), 2, 'refresh tokens rotate from the main thread');
    assert.equal(m1.ferrt ?? 0, 0);
  }));

test('IndexedDB unavailable (localstorage mode): sign-in works, refresh works in this tab, with a warning; sign-out reaches other tabs', () =>
  withEnv({}, async ({ spa, page, server, context, console: lines }) => {
    // Every page of the context: indexedDB.open throws, as with storage disabled by policy.
    await context.addInitScript(() => {
      Object.defineProperty(window, 'indexedDB', {
        configurable: true,
        get: () => ({
          open() {
            throw new DOMException('The user denied permission to access the database.', 'SecurityError');
          },
        }),
      });
    });
    const opts = { cacheLocation: 'localstorage', useRefreshTokens: true };
    await login(page, spa.origin, opts);
    assert.equal(await page.evaluate(() => window.auth0.isAuthenticated()), true, 'no DOMException at sign-in');
    assert.ok(lines.some((l) => /console\.warning.*no IndexedDB/.test(l)), `a warning:\n${lines.join('\n')}`);
    const m0 = await server.metrics();
    await page.evaluate(() => window.auth0.getTokenSilently({ cacheMode: 'off' }));
    await page.evaluate(() => window.auth0.getTokenSilently({ cacheMode: 'off' }));
    const m1 = await server.metrics();
    assert.equal(delta(m1, m0, 'sertft'), 2);
    assert.equal(m1.ferrt ?? 0, 0);

    const b = await context.newPage();
    watch(b, lines, 'B');
    await openApp(b, spa.origin);
    await b.evaluate((o) => window.make(o), opts);
    assert.equal(await b.evaluate(() => window.auth0.isAuthenticated()), true, 'tab B sees the user (localStorage)');
    await page.evaluate(() => window.auth0.logout({ openUrl: false }));
    await b.waitForFunction(() => window.events.some((e) => e.clear === true), undefined, { timeout: 5000 });
    assert.equal(await b.evaluate(() => window.auth0.isAuthenticated()), false, 'tab B learnt of the sign-out');
  }));

test('memory mode: a sign-out in one tab clears every tab (BroadcastChannel)', () =>
  withEnv({}, async ({ spa, page, context, console: lines }) => {
    await login(page, spa.origin, MEMORY_RT);
    // Tab B: its own memory session (checkSession restores it silently through the iframe).
    const b = await context.newPage();
    watch(b, lines, 'B');
    await openApp(b, spa.origin);
    await b.evaluate((o) => window.make(o), { ...MEMORY_RT, useRefreshTokensFallback: true });
    assert.equal(await b.evaluate(() => window.auth0.isAuthenticated()), true);
    await page.evaluate(() => window.auth0.logout({ openUrl: false }));
    await b.waitForFunction(() => window.events.some((e) => e.clear === true), undefined, { timeout: 5000 });
    const r = await b.evaluate(async () => ({
      authenticated: await window.auth0.isAuthenticated(),
      cached: await window.auth0.getTokenSilently({ cacheMode: 'cache-only' }),
    }));
    assert.equal(r.authenticated, false, 'tab B forgot its user');
    assert.equal(r.cached, undefined, 'and its tokens');
  }));
