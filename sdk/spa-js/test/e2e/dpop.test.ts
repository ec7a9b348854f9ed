/**
 * DPoP (RFC 9449) end to end in Chromium against the real `ratchet` binary: `@ratchet/spa-js`
 * with `useDpop: true`, and the unmodified `@auth0/auth0-spa-js` with `useDpop: true`. Each calls
 * a test API (dpop-api.ts) that accepts only DPoP-bound tokens with valid proofs.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { startDpopApi } from './dpop-api.js';
import { delta, login, openApp, submitLogin, vault, watch, withEnv, type Ratchet } from './harness.js';

const LS_DPOP = { cacheLocation: 'localstorage', useRefreshTokens: true, useDpop: true };
type Detailed = { access_token: string; token_type: string; expires_at: number };

const jwtPayload = (t: string): Record<string, unknown> => JSON.parse(Buffer.from(t.split('.')[1] ?? '', 'base64url').toString('utf8'));
const cnfJkt = (at: string): string | undefined => (jwtPayload(at).cnf as { jkt?: string } | undefined)?.jkt;

/** The keys in the SDK's DPoP key store (IndexedDB `ratchet-spa-js-dpop`). */
const dpopKeys = (page: Page): Promise<string[]> =>
  page.evaluate(
    () =>
      new Promise<string[]>((resolve, reject) => {
        const r = indexedDB.open('ratchet-spa-js-dpop', 1);
        r.onupgradeneeded = () => r.result.createObjectStore('keys');
        r.onerror = () => reject(r.error);
        r.onsuccess = () => {
          const q = r.result.transaction('keys').objectStore('keys').getAllKeys();
          q.onsuccess = () => {
            r.result.close();
            resolve(q.result.map(String));
          };
        };
      }),
  );

/** A refresh request from node, as a thief holding a copied refresh token (and maybe a key of his own). */
async function replayFromNode(server: Ratchet, rt: string, withOwnKey: boolean): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded' };
  if (withOwnKey) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const enc = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    const input = `${enc({ typ: 'dpop+jwt', alg: 'ES256', jwk: { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } })}.${enc({
      jti: randomUUID(),
      htm: 'POST',
      htu: `${server.url}/oauth/token`,
      iat: Math.floor(Date.now() / 1000),
    })}`;
    headers.DPoP = `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  }
  const r = await fetch(`${server.url}/oauth/token`, {
    method: 'POST',
    headers,
    body: new URLSearchParams({ grant_type: 'refresh_token', client_id: server.clientId, refresh_token: rt }).toString(),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

test('@ratchet/spa-js useDpop: DPoP-bound tokens, refresh across a reload and in two tabs, createFetcher to a DPoP API', () =>
  withEnv({}, async ({ spa, server, page, context, console }) => {
    const api = await startDpopApi({ issuer: server.url, audience: server.audience, spaOrigin: spa.origin, requireNonce: true });
    try {
      await login(page, spa.origin, LS_DPOP);
      const t0 = (await page.evaluate(() => window.auth0.getTokenSilently({ detailedResponse: true }))) as Detailed;
      assert.equal(t0.token_type, 'DPoP');
      const jkt = cnfJkt(t0.access_token);
      assert.ok(jkt, 'the access token carries cnf.jkt');
      assert.deepEqual(await dpopKeys(page), [server.clientId], 'one key, in IndexedDB');

      // createFetcher: Authorization: DPoP + a proof with ath; the API's nonce challenge is retried once.
      const fetched = await page.evaluate(async (apiUrl) => {
        const f = (window.auth0 as unknown as { createFetcher(c: unknown): { fetchWithAuth(u: string): Promise<Response> } }).createFetcher({ baseUrl: apiUrl });
        const r = await f.fetchWithAuth('/data');
        return { status: r.status, body: (await r.json()) as Record<string, unknown> };
      }, api.url);
      assert.equal(fetched.status, 200, JSON.stringify({ fetched, calls: api.calls }));
      assert.equal(fetched.body.jkt, jkt, 'the API saw a proof by the key the token is bound to');
      assert.deepEqual(api.calls.map((c) => c.reason ?? 'ok'), ['use_dpop_nonce', 'ok'], 'one retry with the API nonce');

      // Reload: the key survives in IndexedDB; the refresh token's family is bound to it.
      const m0 = await server.metrics();
      await page.reload();
      await page.waitForFunction(() => window.ready === true);
      await page.evaluate((o) => window.make(o), LS_DPOP);
      const t1 = (await page.evaluate(() => window.auth0.getTokenSilently({ cacheMode: 'off', detailedResponse: true }))) as Detailed;
      assert.notEqual(t1.access_token, t0.access_token);
      assert.equal(cnfJkt(t1.access_token), jkt, 'same key after the reload');
      assert.equal(delta(await server.metrics(), m0, 'sertft'), 1);

      // Two tabs refresh at once: one request (cross-tab lock), one key, family alive.
      const b = await context.newPage();
      watch(b, console, 'B');
      await openApp(b, spa.origin);
      await b.evaluate((o) => window.make(o), LS_DPOP);
      const m1 = await server.metrics();
      const at = Date.now() + 400;
      const go = (t: number) => window.atTime(t, () => window.auth0.getTokenSilently({ cacheMode: 'off', detailedResponse: true }));
      const [ta, tb] = (await Promise.all([page.evaluate(go, at), b.evaluate(go, at)])) as Detailed[];
      const m2 = await server.metrics();
      assert.equal(delta(m2, m1, 'fertft'), 0, 'no failed refresh');
      assert.equal(delta(m2, m1, 'ferrt'), 0, 'no reuse detected');
      assert.equal(ta!.access_token, tb!.access_token, 'both tabs got the same token');
      assert.equal(cnfJkt(tb!.access_token), jkt, 'tab B signs with the shared key');
      const fromB = await b.evaluate(async (apiUrl) => {
        const f = (window.auth0 as unknown as { createFetcher(c: unknown): { fetchWithAuth(u: string): Promise<Response> } }).createFetcher({ baseUrl: apiUrl });
        return (await f.fetchWithAuth('/data')).status;
      }, api.url);
      assert.equal(fromB, 200);
      assert.ok(api.calls.every((c) => c.ok || c.reason === 'use_dpop_nonce'), JSON.stringify(api.calls));

      // Sign-out deletes the key.
      await page.evaluate(() => window.auth0.logout({ openUrl: false }));
      assert.deepEqual(await dpopKeys(page), [], 'sign-out deletes the key');
    } finally {
      await api.stop();
    }
  }));

test('@ratchet/spa-js useDpop: a refresh token copied out of the browser is refused from node, and the user stays signed in', () =>
  withEnv({ tokenLifetime: 60 }, async ({ spa, server, page }) => {
    await login(page, spa.origin, LS_DPOP);
    const [row] = await vault(page);
    const stolen = row?.refresh_token;
    assert.ok(stolen, 'a refresh token in the vault');
    const m0 = await server.metrics();
    const bare = await replayFromNode(server, stolen, false);
    assert.deepEqual([bare.status, bare.json.error], [403, 'invalid_grant'], 'without a proof');
    const own = await replayFromNode(server, stolen, true);
    assert.deepEqual([own.status, own.json.error], [403, 'invalid_grant'], 'with a proof by another key');
    const m1 = await server.metrics();
    assert.equal(delta(m1, m0, 'ferrt'), 0, 'not treated as reuse: the family is not revoked');
    const t = (await page.evaluate(() => window.auth0.getTokenSilently({ cacheMode: 'off', detailedResponse: true }))) as Detailed;
    assert.equal(t.token_type, 'DPoP');
    assert.equal(await page.evaluate(() => window.auth0.isAuthenticated()), true, 'the user stays signed in');
  }));

test('@ratchet/spa-js useDpop with the token worker (memory cache): proofs from the page, refresh tokens stay in the worker', () =>
  withEnv({ tokenLifetime: 60 }, async ({ spa, server, page }) => {
    const opts = { useRefreshTokens: true, useDpop: true };
    await login(page, spa.origin, opts);
    const t0 = (await page.evaluate(() => window.auth0.getTokenSilently({ detailedResponse: true }))) as Detailed;
    const t1 = (await page.evaluate(() => window.auth0.getTokenSilently({ cacheMode: 'off', detailedResponse: true }))) as Detailed;
    assert.equal(t1.token_type, 'DPoP');
    assert.equal(cnfJkt(t1.access_token), cnfJkt(t0.access_token));
    const m0 = await server.metrics();
    await page.evaluate(() => window.auth0.logout({ openUrl: false }));
    assert.equal(delta(await server.metrics(), m0, 'srrt'), 1, 'the worker revoked the bound family with a proof');
    assert.deepEqual(await dpopKeys(page), []);
  }));

// ---------------------------------------------------------------- the unmodified Auth0 SDK

const PAGE = '/auth0.html';
interface A0 {
  ready?: boolean;
  make(opts?: Record<string, unknown>): Promise<boolean>;
  auth0: {
    loginWithRedirect(o?: unknown): Promise<void>;
    handleRedirectCallback(url?: string): Promise<unknown>;
    getTokenSilently(o?: unknown): Promise<unknown>;
    isAuthenticated(): Promise<boolean>;
    createFetcher(c?: unknown): { fetchWithAuth(u: string, init?: unknown, authParams?: unknown): Promise<Response> };
  };
}
const a0 = (): A0 => window as unknown as A0;

async function auth0Login(page: Page, origin: string, opts: Record<string, unknown>): Promise<URL> {
  let authorize: string | undefined;
  page.on('request', (r) => {
    if (!authorize && r.isNavigationRequest() && r.url().includes('/authorize?')) authorize = r.url();
  });
  await page.goto(`${origin}${PAGE}`);
  await page.waitForFunction(() => (window as unknown as A0).ready === true);
  await page.evaluate((o) => a0().make(o), opts);
  await page.evaluate(() => void a0().auth0.loginWithRedirect()).catch(() => undefined);
  await submitLogin(page);
  await page.waitForURL((u) => u.origin === origin && u.pathname === PAGE && u.searchParams.has('code'));
  await page.waitForFunction(() => (window as unknown as A0).ready === true);
  await page.evaluate(async (o) => {
    await a0().make(o);
    await a0().auth0.handleRedirectCallback();
    history.replaceState(null, '', location.pathname);
  }, opts);
  assert.ok(authorize);
  return new URL(authorize);
}

for (const cacheLocation of ['memory', 'localstorage']) {
  test(`unmodified @auth0/auth0-spa-js useDpop (${cacheLocation}): DPoP-bound token, refresh, createFetcher to a DPoP API`, () =>
    withEnv({ pages: [PAGE], tokenLifetime: 60 }, async ({ spa, server, page }) => {
      const api = await startDpopApi({ issuer: server.url, audience: server.audience, spaOrigin: spa.origin, requireNonce: true });
      try {
        const opts = { cacheLocation, useRefreshTokens: true, useDpop: true, authorizationParams: { audience: server.audience } };
        const q = await auth0Login(page, spa.origin, opts);
        const t0 = (await page.evaluate(() => a0().auth0.getTokenSilently({ detailedResponse: true }))) as Detailed;
        assert.equal(t0.token_type, 'DPoP', 'getTokenSilently returns a DPoP token');
        const jkt = cnfJkt(t0.access_token);
        assert.ok(jkt);
        assert.equal(q.searchParams.get('dpop_jkt'), jkt, 'the thumbprint the SDK announced at /authorize is the one the token is bound to');

        const m0 = await server.metrics();
        const t1 = (await page.evaluate(() => a0().auth0.getTokenSilently({ cacheMode: 'off', detailedResponse: true }))) as Detailed;
        assert.notEqual(t1.access_token, t0.access_token);
        assert.equal(cnfJkt(t1.access_token), jkt, 'refreshed with a proof by the same key');
        const m1 = await server.metrics();
        assert.equal(delta(m1, m0, 'sertft'), 1, 'one refresh');
        assert.equal(delta(m1, m0, 'fertft'), 0, 'the bound family accepted the SDK proof');

        // Its fetcher asks getTokenSilently for exactly the audience it is given (none: the default
        // one), and signs proofs only when told which nonce slot to use (dpopNonceId).
        const r = await page.evaluate(
          async ({ apiUrl, audience }) => {
            const res = await a0().auth0.createFetcher({ baseUrl: apiUrl, dpopNonceId: 'test-api' }).fetchWithAuth('/data', undefined, { audience });
            return { status: res.status, body: (await res.json()) as Record<string, unknown> };
          },
          { apiUrl: api.url, audience: server.audience },
        );
        assert.equal(r.status, 200, JSON.stringify({ r, calls: api.calls }));
        assert.equal(r.body.jkt, jkt);
        assert.deepEqual(api.calls.map((c) => c.reason ?? 'ok'), ['use_dpop_nonce', 'ok'], 'its fetcher retried once with the API nonce');
        assert.equal(await page.evaluate(() => a0().auth0.isAuthenticated()), true);
      } finally {
        await api.stop();
      }
    }));
}
