/**
 * Multi-resource refresh tokens against the real server: the client's `refresh_token.policies`
 * (set with `ratchet clients update --refresh-policy`) and the SDK's `useMrrt`. One sign-in,
 * access tokens for two APIs, one refresh-token family whose rotation every API shares.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { AUDIENCE, delta, login, vault, withEnv } from './harness.js';

const API_B = 'https://b.api.ratchet.test';
const ENV = { apis: { [API_B]: 3600 }, refreshPolicies: [`${API_B}=read:b,write:b`] };

const jwtPayload = (t: string): Record<string, unknown> => JSON.parse(Buffer.from(t.split('.')[1] ?? '', 'base64url').toString('utf8'));

/** Silent-authentication iframes the page opens (`/authorize?prompt=none`). */
function countIframes(page: Page, serverUrl: string): () => number {
  let n = 0;
  page.on('request', (r) => {
    if (r.url().startsWith(`${serverUrl}/authorize`) && new URL(r.url()).searchParams.get('prompt') === 'none') n++;
  });
  return () => n;
}

test('MRRT (localstorage): one sign-in, tokens for two APIs from one refresh token, rotation shared', () =>
  withEnv(ENV, async ({ spa, page, server }) => {
    const opts = { cacheLocation: 'localstorage', useRefreshTokens: true, useMrrt: true };
    await login(page, spa.origin, opts);
    const iframes = countIframes(page, server.url);
    const [signedIn] = await vault(page);
    const rt0 = signedIn?.refresh_token;
    assert.ok(rt0, 'a refresh token from the sign-in');

    const m0 = await server.metrics();
    const tokens = await page.evaluate(async (b) => ({
      a: (await window.auth0.getTokenSilently()) as string,
      b: (await window.auth0.getTokenSilently({ authorizationParams: { audience: b, scope: 'read:b' } })) as string,
    }), API_B);
    const m1 = await server.metrics();
    assert.equal((jwtPayload(tokens.a).aud as string[])[0], AUDIENCE);
    const b = jwtPayload(tokens.b);
    assert.equal((b.aud as string[])[0], API_B, 'an access token for the second API');
    assert.match(String(b.scope), /\bread:b\b/);
    assert.doesNotMatch(String(b.scope), /\bwrite:b\b/, 'only the requested policy scope');
    assert.equal(iframes(), 0, 'no iframe: the one refresh token served the second API');
    assert.equal(delta(m1, m0, 'sertft'), 1, 'one refresh (for API B)');

    const rows = await vault(page);
    assert.equal(rows.length, 2, 'entries for both APIs');
    const rt1 = rows[0]!.refresh_token;
    assert.ok(rt1 && rt1 !== rt0, 'the refresh for B rotated the token');
    assert.ok(rows.every((r) => r.refresh_token === rt1), 'both APIs hold the same (current) refresh token: one family');

    // Refreshing A rotates the same family: B's entry follows.
    await page.evaluate(() => window.auth0.getTokenSilently({ cacheMode: 'off' }));
    const rows2 = await vault(page);
    const rt2 = rows2[0]!.refresh_token;
    assert.ok(rt2 && rt2 !== rt1);
    assert.ok(rows2.every((r) => r.refresh_token === rt2), 'rotation for A reached the entry of B');
    await page.evaluate((aud) => window.auth0.getTokenSilently({ cacheMode: 'off', authorizationParams: { audience: aud, scope: 'read:b' } }), API_B);
    const m2 = await server.metrics();
    assert.equal(delta(m2, m0, 'sertft'), 3);
    assert.equal(m2.ferrt ?? 0, 0, 'no reuse detected: every refresh presented the current token');

    // The rotated-out token is reuse for the whole family (one family indeed).
    const replay = await server.token({ grant_type: 'refresh_token', client_id: server.clientId, refresh_token: rt1! });
    assert.equal(replay.status, 403);
    const err = await page.evaluate(() => window.errorOf(window.auth0.getTokenSilently({ cacheMode: 'off' })));
    assert.equal(err?.error, 'invalid_grant', 'reuse revoked the family the SDK was using');
  }));

test('MRRT (memory, token worker): a second API without an iframe; an API outside the policy is access_denied', () =>
  withEnv(ENV, async ({ spa, page, server }) => {
    const opts = { cacheLocation: 'memory', useRefreshTokens: true, useMrrt: true };
    await login(page, spa.origin, opts);
    const iframes = countIframes(page, server.url);
    const bodies: string[] = [];
    page.on('request', (r) => {
      if (r.url() === `${server.url}/oauth/token`) bodies.push(r.postData() ?? '');
    });
    const t = (await page.evaluate((aud) => window.auth0.getTokenSilently({ authorizationParams: { audience: aud, scope: 'read:b write:b' } }), API_B)) as string;
    assert.equal((jwtPayload(t).aud as string[])[0], API_B);
    assert.equal(iframes(), 0);
    const sent = new URLSearchParams(bodies.at(-1));
    assert.equal(sent.get('grant_type'), 'refresh_token');
    assert.equal(sent.get('audience'), API_B, 'the refresh asks for the other API');
    assert.match(sent.get('scope') ?? '', /read:b write:b/);

    const denied = await page.evaluate(() => window.errorOf(window.auth0.getTokenSilently({ authorizationParams: { audience: 'https://not-in-policy.test' } })));
    assert.equal(denied?.error, 'access_denied');
    assert.equal(await page.evaluate(() => window.auth0.isAuthenticated()), true, 'a refused audience does not sign out');
    // The family is intact: both APIs still refresh.
    await page.evaluate(() => window.auth0.getTokenSilently({ cacheMode: 'off' }));
    await page.evaluate((aud) => window.auth0.getTokenSilently({ cacheMode: 'off', authorizationParams: { audience: aud, scope: 'read:b write:b' } }), API_B);
    assert.equal((await server.metrics()).ferrt ?? 0, 0);
  }));

test('without useMrrt each API keeps its own refresh token: another API is missing_refresh_token, not a cross-API refresh', () =>
  withEnv(ENV, async ({ spa, page }) => {
    await login(page, spa.origin, { cacheLocation: 'localstorage', useRefreshTokens: true });
    const err = await page.evaluate((aud) => window.errorOf(window.auth0.getTokenSilently({ authorizationParams: { audience: aud } })), API_B);
    assert.equal(err?.error, 'missing_refresh_token');
  }));
