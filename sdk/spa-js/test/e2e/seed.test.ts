import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EMAIL, submitLogin, vault, withEnv } from './harness.js';

test('the documented example runs verbatim (v1 client_id, localstorage, useRefreshTokens): signs in and gets a token', () =>
  withEnv({ index: 'seed.html' }, async ({ spa, server, page }) => {
    const authorize: string[] = [];
    page.on('request', (r) => {
      if (r.url().startsWith(`${server.url}/authorize`)) authorize.push(r.url());
    });
    await page.goto(`${spa.origin}/`);
    // The example calls loginWithRedirect(): we land on the ratchet login page.
    await submitLogin(page);
    await page.waitForFunction(() => (window as unknown as { result?: unknown }).result !== undefined);
    const result = (await page.evaluate(() => (window as unknown as { result: unknown }).result)) as {
      token: string;
      user: { email?: string; sub?: string };
      authenticated: boolean;
    };
    assert.equal(typeof result.token, 'string');
    assert.ok(result.token.length > 10);
    assert.equal(result.user.email, EMAIL);
    assert.equal(result.authenticated, true);

    const q = new URL(authorize[0]!).searchParams;
    assert.equal(q.get('client_id'), server.clientId);
    assert.equal(q.get('response_type'), 'code');
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.equal(q.get('redirect_uri'), spa.origin, 'default redirect_uri is window.location.origin');
    assert.deepEqual(q.get('scope')?.split(' '), ['openid', 'profile', 'email', 'offline_access']);

    // The refresh token was stored (IndexedDB vault), never in localStorage.
    const rows = await vault(page);
    assert.ok(rows.some((r) => typeof r.refresh_token === 'string' && r.refresh_token.length > 0), 'refresh token persisted');
    const ls = await page.evaluate(() => JSON.stringify({ ...localStorage }));
    for (const r of rows) assert.ok(!ls.includes(r.refresh_token!), 'refresh token must not be in localStorage');
  }));
