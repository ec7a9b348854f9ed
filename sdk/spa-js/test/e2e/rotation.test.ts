import assert from 'node:assert/strict';
import { test } from 'node:test';
import { delta, login, openApp, sleep, vault, watch, withEnv } from './harness.js';

const LS = { cacheLocation: 'localstorage', useRefreshTokens: true };
type Detailed = { access_token: string; expires_at: number; expires_in: number };

test('an expired access token is refreshed and the refresh token rotates', () =>
  withEnv({ tokenLifetime: 2 }, async ({ spa, page, server }) => {
    await login(page, spa.origin, LS);
    const [row0] = await vault(page);
    assert.ok(row0?.refresh_token && row0.access_token && row0.expiresAt);
    const m0 = await server.metrics();

    // Wait until the server-side expiry has really passed.
    await sleep(Math.max(0, row0.expiresAt * 1000 - Date.now()) + 1100);
    const t1 = (await page.evaluate(() => window.auth0.getTokenSilently({ detailedResponse: true }))) as Detailed;
    assert.notEqual(t1.access_token, row0.access_token, 'a new access token');
    assert.ok(t1.expires_at > row0.expiresAt);

    const [row1] = await vault(page);
    assert.ok(row1?.refresh_token);
    assert.notEqual(row1.refresh_token, row0.refresh_token, 'the refresh token rotated');
    assert.equal(row1.access_token, t1.access_token);

    const m1 = await server.metrics();
    assert.equal(delta(m1, m0, 'sertft'), 1, 'one successful refresh exchange');
    assert.equal(delta(m1, m0, 'ferrt'), 0, 'no reuse detected');

    const events = await page.evaluate(() => window.events);
    assert.ok(events.some((e) => e.grant === 'refresh_token' && e.rotated === true), 'token event reports the rotation');

    // And again: the rotated token works (the family is alive).
    const t2 = (await page.evaluate(() => window.auth0.getTokenSilently({ cacheMode: 'off', detailedResponse: true }))) as Detailed;
    assert.notEqual(t2.access_token, t1.access_token);
    const [row2] = await vault(page);
    assert.notEqual(row2?.refresh_token, row1.refresh_token);
  }));

test('two tabs refreshing at the same instant: one refresh request, both get the token, family stays alive (leeway 0)', () =>
  withEnv({ tokenLifetime: 2, leeway: 0 }, async ({ spa, page: a, server, context, console }) => {
    await login(a, spa.origin, LS);
    const b = await context.newPage();
    watch(b, console, 'B');
    await openApp(b, spa.origin);
    await b.evaluate((o) => window.make(o), LS); // checkSession in B refreshes once (short-lived token)
    assert.equal(await b.evaluate(() => window.auth0.isAuthenticated()), true);

    for (let round = 0; round < 6; round++) {
      const m0 = await server.metrics();
      const at = Date.now() + 400;
      const call = (o: { at: number; mode: string }) => window.atTime(o.at, () => window.auth0.getTokenSilently({ cacheMode: o.mode, detailedResponse: true }));
      const mode = round % 2 ? 'on' : 'off';
      const [ta, tb] = (await Promise.all([a.evaluate(call, { at, mode }), b.evaluate(call, { at, mode })])) as Detailed[];
      const m1 = await server.metrics();
      assert.equal(delta(m1, m0, 'sertft'), 1, `round ${round}: exactly one refresh request reached the server`);
      assert.equal(delta(m1, m0, 'fertft'), 0, `round ${round}: no failed refresh`);
      assert.equal(delta(m1, m0, 'ferrt'), 0, `round ${round}: no reuse detected`);
      assert.equal(ta!.access_token, tb!.access_token, `round ${round}: both tabs got the same fresh token`);
    }
    // The family is alive: a further refresh in either tab succeeds.
    const m0 = await server.metrics();
    await b.evaluate(() => window.auth0.getTokenSilently({ cacheMode: 'off' }));
    await a.evaluate(() => window.auth0.getTokenSilently({ cacheMode: 'off' }));
    const m1 = await server.metrics();
    assert.equal(delta(m1, m0, 'sertft'), 2);
    assert.equal(m1.ferrt ?? 0, 0);
    assert.equal(await a.evaluate(() => window.auth0.isAuthenticated()), true);
    assert.equal(await b.evaluate(() => window.auth0.isAuthenticated()), true);
    // Tab A saw B's refreshes through the BroadcastChannel.
    const remote = await a.evaluate(() => window.events.filter((e) => e.remote === true).length);
    assert.ok(remote >= 1, 'tab A received token events from tab B');
  }));

test('replaying an old refresh token out of band kills the family; the SDK then reports not authenticated', () =>
  withEnv({ tokenLifetime: 2, leeway: 0 }, async ({ spa, page, server }) => {
    await login(page, spa.origin, LS);
    const [row0] = await vault(page);
    const stolen = row0?.refresh_token;
    assert.ok(stolen);
    await page.evaluate(() => window.auth0.getTokenSilently({ cacheMode: 'off' })); // rotates: `stolen` is now old
    const [row1] = await vault(page);
    assert.notEqual(row1?.refresh_token, stolen);

    const m0 = await server.metrics();
    const replay = await server.token({ grant_type: 'refresh_token', client_id: server.clientId, refresh_token: stolen });
    assert.equal(replay.status, 403, JSON.stringify(replay.json));
    assert.equal(replay.json.error, 'invalid_grant');
    const m1 = await server.metrics();
    assert.equal(delta(m1, m0, 'ferrt'), 1, 'reuse detected');

    const r = await page.evaluate(async () => {
      const err = await window.errorOf(window.auth0.getTokenSilently({ cacheMode: 'off' }));
      return { err, authenticated: await window.auth0.isAuthenticated(), user: await window.auth0.getUser() };
    });
    assert.equal(r.err?.error, 'invalid_grant');
    assert.equal(r.err?.name, 'GenericError');
    assert.equal(r.authenticated, false);
    assert.equal(r.user, undefined);
    assert.deepEqual(await vault(page), [], 'refresh tokens forgotten');
    // After a reload too.
    await page.reload();
    await page.waitForFunction(() => window.ready === true);
    assert.equal(await page.evaluate(async (o) => (await window.make(o), window.auth0.isAuthenticated()), LS), false);
  }));
