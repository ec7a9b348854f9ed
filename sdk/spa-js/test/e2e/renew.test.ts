/**
 * `autoRenew` with a short access-token lifetime against the real server: renewals before expiry
 * (rotating the refresh token), the `expiring`/`token`/`error` events with their unsubscribe
 * functions, the pause while the page is hidden, and one renewal for all tabs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { delta, login, openApp, sleep, watch, withEnv } from './harness.js';

// Access tokens live 8 s; renew 4 s before expiry (never sooner than half the lifetime): every ~4 s.
const ENV = { tokenLifetime: 8 };
const OPTS = { cacheLocation: 'localstorage', useRefreshTokens: true, autoRenew: 4 };

type Seen = { seen: { type: string; detail: unknown }[]; offToken: () => void };

test('autoRenew refreshes before expiry, rotating; events fire and unsubscribe', () =>
  withEnv(ENV, async ({ spa, page, server }) => {
    await login(page, spa.origin, OPTS);
    await page.evaluate(() => {
      const w = window as unknown as Seen;
      w.seen = [];
      for (const type of ['token', 'expiring', 'error']) {
        const off = window.auth0.on(type, (detail) => w.seen.push({ type, detail }));
        if (type === 'token') w.offToken = off;
      }
    });
    const m0 = await server.metrics();
    await sleep(9_500);
    const m1 = await server.metrics();
    const renewals = delta(m1, m0, 'sertft');
    assert.ok(renewals >= 2 && renewals <= 3, `about one renewal every 4 s in 9.5 s, got ${renewals}`);
    assert.equal(m1.ferrt ?? 0, 0, 'every renewal presented the current refresh token');
    const r = await page.evaluate(() => ({ seen: (window as unknown as Seen).seen }));
    const tokens = r.seen.filter((e) => e.type === 'token').map((e) => e.detail as { grant: string; rotated: boolean; expiresAt: number });
    assert.ok(tokens.every((t, i) => i === 0 || t.expiresAt > tokens[i - 1]!.expiresAt), 'each renewal extends the expiry');
    assert.ok(tokens.length >= 2, JSON.stringify(r.seen));
    assert.ok(tokens.every((t) => t.grant === 'refresh_token' && t.rotated), 'renewals rotate the refresh token');
    assert.ok(r.seen.filter((e) => e.type === 'expiring').length >= 2, 'an expiring event before each renewal');
    assert.equal(r.seen.filter((e) => e.type === 'error').length, 0);

    // Unsubscribed: no more token events reach the listener, renewals go on.
    const before = await page.evaluate(() => {
      const w = window as unknown as Seen;
      w.offToken();
      return w.seen.filter((e) => e.type === 'token').length;
    });
    await sleep(4_500);
    const after = await page.evaluate(() => (window as unknown as Seen).seen.filter((e) => e.type === 'token').length);
    assert.equal(after, before, 'the unsubscribed listener got nothing');
    assert.ok(delta(await server.metrics(), m1, 'sertft') >= 1, 'renewal continued');
  }));

test('autoRenew waits while the page is hidden and renews once it is visible again', () =>
  withEnv(ENV, async ({ spa, page, server }) => {
    await login(page, spa.origin, OPTS);
    await page.evaluate(() => {
      (window as unknown as { hidden: boolean }).hidden = true;
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => ((window as unknown as { hidden: boolean }).hidden ? 'hidden' : 'visible') });
    });
    const m0 = await server.metrics();
    await sleep(6_000);
    const m1 = await server.metrics();
    assert.equal(delta(m1, m0, 'sertft'), 0, 'no renewal while hidden');
    await page.evaluate(() => {
      (window as unknown as { hidden: boolean }).hidden = false;
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await sleep(1_500);
    assert.equal(delta(await server.metrics(), m1, 'sertft'), 1, 'renewed when visible');
  }));

test('autoRenew in two tabs: one refresh per renewal for both (shared lock, shared result)', () =>
  withEnv(ENV, async ({ spa, page, server, context, console: lines }) => {
    await login(page, spa.origin, OPTS);
    const b = await context.newPage();
    watch(b, lines, 'B');
    await openApp(b, spa.origin);
    await b.evaluate((o) => window.make(o), OPTS);
    // Align both tabs on the same token (B got its own by checkSession? then A adopts it).
    await page.evaluate(() => window.auth0.getTokenSilently({ cacheMode: 'off' }));
    const m0 = await server.metrics();
    await sleep(9_000);
    const m1 = await server.metrics();
    const n = delta(m1, m0, 'sertft');
    assert.ok(n >= 1 && n <= 3, `two tabs renewing every ~4 s share each refresh: ${n} refreshes in 9 s`);
    assert.equal(m1.ferrt ?? 0, 0);
    const remote = await Promise.all([page, b].map((p) => p.evaluate(() => window.events.filter((e) => e.remote === true && e.grant === 'refresh_token').length)));
    assert.ok(remote[0]! + remote[1]! >= 1, 'a renewal done in one tab reached the other');
  }));
