/**
 * The unmodified Auth0 SPA SDK (`@auth0/auth0-spa-js`, exact-pinned devDependency, its browser ESM
 * bundle served from node_modules/@auth0/auth0-spa-js/dist) in headless Chromium against the real
 * `ratchet` binary: the product promise "point the code Auth0's docs show at Ratchet and it works".
 * Page: test/e2e/pages/auth0.html. Every test has its own server + database (leeway 0, rotating client).
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Browser, Page, Request, Response } from 'playwright-core';
import {
  AUDIENCE,
  AUTH0_DIST,
  EMAIL,
  PASSWORD,
  PKG,
  RATCHET_BIN,
  type Ratchet,
  delta,
  launchBrowser,
  requirePrerequisites,
  startSpa,
  submitLogin,
  watch,
  withEnv,
} from './harness.js';

const PAGE = '/auth0.html';
const ENV = { pages: [PAGE] };
const INVALID_RT = { error: 'invalid_grant', error_description: 'Unknown or invalid refresh token.' };

/** The version under test: the exact pin in package.json, and what npm installed. */
function auth0Version(): string {
  const pinned = (JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies['@auth0/auth0-spa-js'];
  assert.match(pinned ?? '', /^2\.\d+\.\d+$/, '@auth0/auth0-spa-js must be an exact-pinned 2.x devDependency');
  assert.ok(existsSync(join(AUTH0_DIST, 'auth0-spa-js.production.esm.js')), `Auth0 SDK bundle missing in ${AUTH0_DIST} (npm install)`);
  const installed = (JSON.parse(readFileSync(join(AUTH0_DIST, '../package.json'), 'utf8')) as { version: string }).version;
  assert.equal(installed, pinned, 'node_modules holds the pinned version (npm ci)');
  return installed;
}

interface StorageRow {
  key: string;
  value: { body?: { refresh_token?: string; access_token?: string; audience?: string; scope?: string }; id_token?: string };
}
interface SdkError {
  error?: string;
  error_description?: string;
  name?: string;
  message: string;
}
/** auth0.html's globals (window.auth0 is an unmodified Auth0Client). */
interface A0 {
  ready?: boolean;
  make(opts?: Record<string, unknown>): Promise<boolean>;
  auth0: {
    loginWithRedirect(o?: unknown): Promise<void>;
    handleRedirectCallback(url?: string): Promise<unknown>;
    checkSession(o?: unknown): Promise<void>;
    getTokenSilently(o?: unknown): Promise<unknown>;
    getUser(): Promise<Record<string, unknown> | undefined>;
    isAuthenticated(): Promise<boolean>;
    logout(o?: unknown): Promise<void>;
  };
  errorOf(p: Promise<unknown>): Promise<SdkError | null>;
  auth0Storage(): StorageRow[];
  traceMainThreadFetch(): void;
  mainThreadTokenCalls: { url: string; body: string | null }[];
}
/**
 * Inside page.evaluate, `a0()` is auth0.html's `window.a0` (returns window); this node-side twin
 * only gives it a type (the function body is never called in node).
 */
const a0 = (): A0 => window as unknown as A0;

/** A promise awaited later: never an unhandled rejection if the test fails before awaiting it. */
function later<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

async function openPage(page: Page, origin: string): Promise<void> {
  await page.goto(`${origin}${PAGE}`);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
}

/**
 * The documented flow with the Auth0 SDK: createAuth0Client(opts) → loginWithRedirect() → ratchet
 * login form → back on auth0.html?code=… → createAuth0Client(opts) → handleRedirectCallback().
 * Returns the /authorize URL the SDK navigated to.
 */
async function login(page: Page, server: Ratchet, origin: string, opts: Record<string, unknown>): Promise<URL> {
  let authorize: string | undefined;
  const onReq = (r: Request): void => {
    if (!authorize && r.isNavigationRequest() && r.url().startsWith(`${server.url}/authorize?`)) authorize = r.url();
  };
  page.on('request', onReq);
  try {
    await openPage(page, origin);
    await page.evaluate((o) => a0().make(o), opts);
    await page.evaluate(() => void a0().auth0.loginWithRedirect()).catch(() => undefined); // navigates away
    await submitLogin(page);
    await page.waitForURL((u) => u.origin === origin && u.pathname === PAGE && u.searchParams.has('code'));
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    await page.evaluate(async (o) => {
      await a0().make(o);
      await a0().auth0.handleRedirectCallback();
      history.replaceState(null, '', location.pathname);
    }, opts);
  } finally {
    page.off('request', onReq);
  }
  assert.ok(authorize, 'the SDK navigated to /authorize');
  return new URL(authorize);
}

const storedRefreshTokens = (page: Page): Promise<string[]> =>
  page.evaluate(() =>
    a0()
      .auth0Storage()
      .map((r) => r.value.body?.refresh_token)
      .filter((t): t is string => typeof t === 'string'),
  );

const jwtPayload = (t: string): Record<string, unknown> => JSON.parse(Buffer.from(t.split('.')[1] ?? '', 'base64url').toString('utf8'));

/** Waits for the next response of a POST /oauth/token made by the page (main thread). */
const nextTokenResponse = (page: Page, server: Ratchet): Promise<Response> =>
  later(page.waitForResponse((r) => r.request().method() === 'POST' && r.url() === `${server.url}/oauth/token`, { timeout: 15_000 }));

test('Auth0 SDK: the seed example (v2 option names) signs in, getUser has the email, getTokenSilently returns a token', () =>
  withEnv(ENV, async ({ spa, server, page }) => {
    const version = auth0Version();
    const opts = { cacheLocation: 'localstorage', useRefreshTokens: true };

    // The seed's v1 spelling `client_id` is not read by v2 (Auth0Client only uses options.clientId, see
    // node_modules/@auth0/auth0-spa-js/src/Auth0Client.utils.ts getAuthorizeParams): /authorize goes out
    // without any client_id and ratchet refuses it. Assert that documented v2 behaviour, then use `clientId`.
    await openPage(page, spa.origin);
    const v1Nav = later(page.waitForRequest((r) => r.url().startsWith(`${server.url}/authorize?`)));
    await page.evaluate((o) => a0().make({ ...o, v1: true }), opts);
    await page.evaluate(() => void a0().auth0.loginWithRedirect()).catch(() => undefined);
    const v1Req = await v1Nav;
    const v1Res = await v1Req.response();
    assert.equal(new URL(v1Req.url()).searchParams.has('client_id'), false, 'v2 ignores the v1 `client_id` option');
    assert.equal(v1Res?.status(), 400, 'ratchet rejects /authorize without client_id');
    // Let that navigation finish (the error page) before the next one starts, or it interrupts it.
    await page.waitForURL((u) => u.href.startsWith(`${server.url}/authorize?`), { waitUntil: 'load' });

    const q = await login(page, server, spa.origin, opts);
    assert.equal(q.searchParams.get('client_id'), server.clientId);
    assert.equal(q.searchParams.get('response_type'), 'code');
    assert.equal(q.searchParams.get('response_mode'), 'query');
    assert.equal(q.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(q.searchParams.get('redirect_uri'), `${spa.origin}${PAGE}`);
    assert.deepEqual(q.searchParams.get('scope')?.split(' '), ['openid', 'profile', 'email', 'offline_access']);
    const telemetry = JSON.parse(Buffer.from(q.searchParams.get('auth0Client') ?? '', 'base64').toString('utf8')) as { name: string; version: string };
    assert.deepEqual(telemetry, { name: 'auth0-spa-js', version }, 'the unmodified Auth0 SDK made the request');

    const r = await page.evaluate(async () => ({
      user: await a0().auth0.getUser(),
      authenticated: await a0().auth0.isAuthenticated(),
      token: await a0().auth0.getTokenSilently(),
      rows: a0().auth0Storage(),
    }));
    assert.equal(r.user?.email, EMAIL);
    assert.equal(r.authenticated, true);
    assert.equal(typeof r.token, 'string');
    assert.ok((r.token as string).length > 10);
    const entry = r.rows.find((x) => x.value.body?.refresh_token);
    assert.ok(entry, `the SDK stored a refresh token in localStorage: ${JSON.stringify(r.rows.map((x) => x.key))}`);
    assert.equal(entry.key, `@@auth0spajs@@::${server.clientId}::default::openid profile email offline_access`);
  }));

test('Auth0 SDK: refresh with rotation (localstorage, 5 s API tokens): two refreshes, two sertft, no ferrt, a new refresh token each time', () =>
  withEnv({ ...ENV, tokenLifetime: 5 }, async ({ spa, server, page }) => {
    auth0Version();
    const opts = { cacheLocation: 'localstorage', useRefreshTokens: true, authorizationParams: { audience: AUDIENCE } };
    const q = await login(page, server, spa.origin, opts);
    assert.equal(q.searchParams.get('audience'), AUDIENCE);

    const rt0 = await storedRefreshTokens(page);
    assert.equal(rt0.length, 1, 'one refresh token stored after login');
    const m0 = await server.metrics();
    const seen = [rt0[0]!];
    const bodies: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = nextTokenResponse(page, server);
      const token = await page.evaluate(() => a0().auth0.getTokenSilently({ cacheMode: 'off' }));
      const resp = await res;
      bodies.push(resp.request().postData() ?? '');
      assert.equal(resp.status(), 200);
      assert.equal(typeof token, 'string');
      assert.ok((jwtPayload(token as string).aud as string[] | string).includes(AUDIENCE), 'access token for the API (audience bound to the refresh token)');
      const rts = await storedRefreshTokens(page);
      assert.equal(rts.length, 1);
      assert.ok(!seen.includes(rts[0]!), `refresh ${i + 1}: the stored refresh token changed`);
      seen.push(rts[0]!);
    }
    const sent = new URLSearchParams(bodies[0]);
    assert.equal(sent.get('grant_type'), 'refresh_token');
    assert.equal(sent.get('refresh_token'), seen[0], 'the SDK sent the stored token');
    assert.equal(new URLSearchParams(bodies[1]).get('refresh_token'), seen[1], 'then the rotated one');
    assert.equal(sent.has('audience'), false, 'v2 sends no audience on refresh (server binds it to the token)');
    const m1 = await server.metrics();
    assert.equal(delta(m1, m0, 'sertft'), 2, JSON.stringify({ m0, m1 }));
    assert.equal(m1.ferrt ?? 0, 0, JSON.stringify(m1));
  }));

test('Auth0 SDK: memory cache + useRefreshTokens refreshes through the Web Worker', () =>
  withEnv({ ...ENV, tokenLifetime: 5 }, async ({ spa, server, page }) => {
    auth0Version();
    const opts = { useRefreshTokens: true, authorizationParams: { audience: AUDIENCE } }; // cacheLocation: default (memory)
    await login(page, server, spa.origin, opts);
    await page.evaluate(() => a0().traceMainThreadFetch());
    const m0 = await server.metrics();
    const r = await page.evaluate(async () => {
      const first = (await a0().auth0.getTokenSilently({ cacheMode: 'off' })) as string;
      const second = (await a0().auth0.getTokenSilently({ cacheMode: 'off' })) as string;
      return { first, second, calls: a0().mainThreadTokenCalls, storage: JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) };
    });
    assert.equal(typeof r.first, 'string');
    assert.equal(typeof r.second, 'string');
    assert.notEqual(r.first, r.second);
    assert.deepEqual(r.calls, [], 'no /oauth/token call from the main thread: the worker made them');
    assert.ok(page.workers().length >= 1, 'the SDK started its Web Worker');
    assert.ok(!r.storage.includes(r.first) && !r.storage.includes(r.second), 'memory mode keeps tokens out of web storage');
    const m1 = await server.metrics();
    assert.equal(delta(m1, m0, 'sertft'), 2, JSON.stringify({ m0, m1 }));
    assert.equal(m1.ferrt ?? 0, 0);
  }));

test('Auth0 SDK: silent authentication in the iframe (prompt=none, web_message) restores the session on a fresh page load', () =>
  withEnv(ENV, async ({ spa, server, page }) => {
    auth0Version();
    const opts = { useRefreshTokens: false, authorizationParams: { audience: AUDIENCE } };
    await login(page, server, spa.origin, opts);
    assert.equal(await page.evaluate(() => a0().auth0.isAuthenticated()), true);

    const silent: Request[] = [];
    page.on('request', (req) => {
      if (req.url().startsWith(`${server.url}/authorize?`) && new URL(req.url()).searchParams.get('prompt') === 'none') silent.push(req);
    });
    // Memory cache: a fresh load knows nothing. new Auth0Client + checkSession() → hidden iframe.
    await openPage(page, spa.origin);
    const r = await page.evaluate(async (o) => {
      await a0().make({ ...o, noCheckSession: true });
      const before = await a0().auth0.isAuthenticated();
      await a0().auth0.checkSession();
      return {
        before,
        authenticated: await a0().auth0.isAuthenticated(),
        user: await a0().auth0.getUser(),
        cached: await a0().auth0.getTokenSilently({ cacheMode: 'cache-only' }),
        fresh: await a0().errorOf(a0().auth0.getTokenSilently({ cacheMode: 'off' })),
      };
    }, opts);
    assert.equal(r.before, false);
    assert.equal(r.authenticated, true, 'checkSession restored the session');
    assert.equal(r.user?.email, EMAIL);
    assert.equal(typeof r.cached, 'string');
    assert.equal(r.fresh, null, "getTokenSilently({cacheMode:'off'}) through the iframe works too");
    assert.equal(silent.length, 2, 'checkSession and getTokenSilently each made one silent /authorize');
    for (const req of silent) {
      const q = new URL(req.url()).searchParams;
      assert.equal(q.get('response_mode'), 'web_message');
      assert.equal(q.get('audience'), AUDIENCE);
      assert.equal(q.get('redirect_uri'), `${spa.origin}${PAGE}`);
      assert.ok(req.frame() !== page.mainFrame(), 'loaded in an iframe');
      const res = await req.response();
      assert.equal(res?.status(), 200);
    }
  }));

test('Auth0 SDK: logout({ logoutParams: { returnTo } }) ends the server session (silent auth → login_required)', () =>
  withEnv(ENV, async ({ spa, server, page }) => {
    auth0Version();
    const opts = { cacheLocation: 'localstorage', useRefreshTokens: true };
    await login(page, server, spa.origin, opts);
    assert.ok((await storedRefreshTokens(page)).length === 1);

    const returnTo = `${spa.origin}${PAGE}`;
    const loggedOut = later(page.waitForResponse((r) => r.url().startsWith(`${server.url}/v2/logout?`)));
    await page.evaluate((u) => void a0().auth0.logout({ logoutParams: { returnTo: u } }), returnTo).catch(() => undefined);
    const res = await loggedOut;
    const lq = new URL(res.url()).searchParams;
    assert.equal(lq.get('client_id'), server.clientId);
    assert.equal(lq.get('returnTo'), returnTo);
    // No id_token_hint (the Auth0 SDK sends none): the server asks the user to confirm
    // (OpenID Connect RP-Initiated Logout 1.0 §2), and the confirmation's POST redirects.
    assert.equal(res.status(), 200);
    const confirmed = later(page.waitForResponse((r) => r.request().method() === 'POST' && r.url() === `${server.url}/v2/logout`));
    await page.click('#confirm-logout');
    const done = await confirmed;
    assert.equal(done.status(), 302);
    assert.equal(done.headers().location, returnTo);
    await page.waitForURL(returnTo, { waitUntil: 'load' });
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);

    const after = await page.evaluate(async () => {
      await a0().make({ useRefreshTokens: false });
      return {
        rows: a0().auth0Storage(),
        authenticated: await a0().auth0.isAuthenticated(),
        silent: await a0().errorOf(a0().auth0.getTokenSilently()),
      };
    });
    assert.deepEqual(after.rows, [], 'the SDK cleared its localStorage cache');
    assert.equal(after.authenticated, false);
    assert.equal(after.silent?.error, 'login_required', JSON.stringify(after.silent));
  }));

test('Auth0 SDK: a replayed rotated refresh token revokes the family; the SDK then gets 403 invalid_grant', () =>
  withEnv({ ...ENV, tokenLifetime: 5 }, async ({ spa, server, page }) => {
    auth0Version();
    const opts = { cacheLocation: 'localstorage', useRefreshTokens: true, authorizationParams: { audience: AUDIENCE } };
    await login(page, server, spa.origin, opts);
    const [rt0] = await storedRefreshTokens(page);
    assert.ok(rt0);
    assert.equal(typeof (await page.evaluate(() => a0().auth0.getTokenSilently({ cacheMode: 'off' }))), 'string');
    const [rt1] = await storedRefreshTokens(page);
    assert.ok(rt1 && rt1 !== rt0, 'rotated');

    // Out of band: replay the rotated-away token (leeway 0) → reuse detected, family revoked.
    const m0 = await server.metrics();
    const replay = await server.token({ grant_type: 'refresh_token', client_id: server.clientId, refresh_token: rt0 });
    assert.equal(replay.status, 403, JSON.stringify(replay.json));
    assert.deepEqual(replay.json, INVALID_RT);
    const m1 = await server.metrics();
    assert.equal(delta(m1, m0, 'ferrt'), 1, JSON.stringify({ m0, m1 }));

    // The SDK's next refresh sends rt1 (a member of the revoked family).
    const res = nextTokenResponse(page, server);
    const err = await page.evaluate(() => a0().errorOf(a0().auth0.getTokenSilently({ cacheMode: 'off' })));
    const resp = await res;
    assert.equal(new URLSearchParams(resp.request().postData() ?? '').get('refresh_token'), rt1);
    assert.equal(resp.status(), 403);
    assert.deepEqual(await resp.json(), INVALID_RT);
    // Auth0 SDK v2 default (useRefreshTokensFallback: false): the token-endpoint error is rethrown as is
    // (GenericError with error/error_description from the body) and nothing is cleared
    // (node_modules/@auth0/auth0-spa-js/src/Auth0Client.ts _getTokenUsingRefreshToken).
    assert.equal(err?.error, 'invalid_grant', JSON.stringify(err));
    assert.equal(err?.error_description, INVALID_RT.error_description);
    assert.equal(await page.evaluate(() => a0().auth0.isAuthenticated()), true, 'documented: the SDK keeps the cached ID token');
    assert.deepEqual(await storedRefreshTokens(page), [rt1], 'documented: the SDK keeps the dead refresh token');
    const m2 = await server.metrics();
    assert.equal(delta(m2, m1, 'sertft'), 0);
    assert.equal(delta(m2, m1, 'fertft'), 1, JSON.stringify({ m1, m2 }));
  }));

// ------------------------------------------------------------------ API permissions

/** The permissions of the API in the permissions test (`apis create --scope VALUE[=description]`). */
const PERMISSIONS_API = 'https://messages.ratchet.test';

/** Runs the ratchet CLI; resolves with its stdout parsed as one JSON object. */
function cli(args: string[], env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  return new Promise((res, rej) => {
    execFile(RATCHET_BIN, [...args, '--json'], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`ratchet ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else res(JSON.parse(stdout.trim()) as Record<string, unknown>);
    });
  });
}

/**
 * A ratchet server (own database) with a rotating SPA client for `spaOrigin`/auth0.html, the e2e
 * user, and an API whose permissions are read:messages and write:messages.
 */
async function startWithPermissions(spaOrigin: string): Promise<{ server: Ratchet; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'ratchet-e2e-permissions-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RATCHET_MASTER_KEY: randomBytes(32).toString('hex'),
    RATCHET_DATABASE_URL: `sqlite://${join(dir, 'ratchet.db')}`,
  };
  let child: ChildProcess | undefined;
  let output = '';
  const stop = async (): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const page = `${spaOrigin}${PAGE}`;
    const client = await cli(
      ['clients', 'create', '--name', 'e2e spa', '--type', 'spa', '--callback', page, '--logout-url', page, '--web-origin', spaOrigin, '--rotation', 'rotating'],
      env,
    );
    await cli(['users', 'create', '--email', EMAIL, '--password', PASSWORD], env);
    await cli(
      ['apis', 'create', '--audience', PERMISSIONS_API, '--allow-offline-access', '--scope', 'read:messages=Read messages', '--scope', 'write:messages=Write messages'],
      env,
    );
    const proc = spawn(RATCHET_BIN, ['serve', '--listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const url = await new Promise<string>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`ratchet serve did not start within 20 s\n${output}`)), 20_000);
      proc.stdout!.on('data', (d: Buffer) => {
        output += d.toString();
        const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)\/$/m.exec(output);
        if (m) {
          clearTimeout(timer);
          res(m[1]!);
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        rej(new Error(`ratchet serve exited early (code ${code})\n${output}`));
      });
    });
    const server: Ratchet = {
      url,
      clientId: String(client.client_id),
      audience: PERMISSIONS_API,
      log: () => output,
      metrics: async () => ({}),
      token: async () => ({ status: 0, json: {} }),
      stop,
    };
    return { server, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

test("Auth0 SDK: scopes the API defines (its permissions) are granted, kept through refreshes, and the SDK's missing-scopes check holds", async () => {
  requirePrerequisites();
  auth0Version();
  const spa = await startSpa();
  let env: { server: Ratchet; stop: () => Promise<void> } | undefined;
  let browser: Browser | undefined;
  const lines: string[] = [];
  try {
    env = await startWithPermissions(spa.origin);
    const { server } = env;
    spa.config = { domain: server.url, client_id: server.clientId, audience: PERMISSIONS_API };
    browser = await launchBrowser();
    const context = await browser.newContext();
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    watch(page, lines, 'A');

    // useMrrt turns on the SDK's check of the token response's scope (MissingScopesError).
    const scope = 'openid profile email offline_access read:messages delete:everything';
    const opts = { cacheLocation: 'localstorage', useRefreshTokens: true, useMrrt: true, authorizationParams: { audience: PERMISSIONS_API, scope } };
    const q = await login(page, server, spa.origin, opts);
    assert.ok(q.searchParams.get('scope')?.split(' ').includes('read:messages'), 'the SDK asked for the permission');

    const granted = ['openid', 'profile', 'email', 'offline_access', 'read:messages'];
    type Detailed = { access_token: string; scope?: string };
    const cached = (await page.evaluate(() => a0().auth0.getTokenSilently({ detailedResponse: true }))) as Detailed;
    assert.deepEqual(cached.scope?.split(' ').sort(), [...granted].sort(), 'the token response scope: defined permissions in, undefined ones out');
    assert.deepEqual(String(jwtPayload(cached.access_token).scope).split(' ').sort(), [...granted].sort(), 'the access token scope claim');

    const refreshed = (await page.evaluate(() => a0().auth0.getTokenSilently({ cacheMode: 'off', detailedResponse: true }))) as Detailed;
    assert.notEqual(refreshed.access_token, cached.access_token, 'a refresh happened');
    assert.deepEqual(String(jwtPayload(refreshed.access_token).scope).split(' ').sort(), [...granted].sort(), 'kept through the refresh');
    const reused = (await page.evaluate(() =>
      a0().auth0.getTokenSilently({ cacheMode: 'off', detailedResponse: true, authorizationParams: { scope: 'read:messages' } }),
    )) as Detailed;
    assert.ok(String(jwtPayload(reused.access_token).scope).split(' ').includes('read:messages'), 'asked again, the SDK gets it again');

    // A permission the API defines but the user never granted: the refresh does not add it, and
    // the unmodified SDK reports it as missing (its check is live in this configuration).
    const missing = await page.evaluate(() =>
      a0().errorOf(a0().auth0.getTokenSilently({ cacheMode: 'off', authorizationParams: { scope: 'write:messages' } })),
    );
    assert.equal(missing?.error, 'missing_scopes', JSON.stringify(missing));
    assert.match(missing?.error_description ?? missing?.message ?? '', /write:messages/);
  } catch (e) {
    const err = e as Error;
    err.message += `\n--- ratchet log (tail) ---\n${(env?.server.log() ?? '').slice(-4000)}\n--- browser console ---\n${lines.slice(-60).join('\n')}`;
    throw err;
  } finally {
    await browser?.close().catch(() => undefined);
    await env?.stop();
    await spa.stop();
  }
});

test('Auth0 SDK: a client whose ID tokens are ES256 is refused by the unmodified SDK (it accepts RS256 only)', () =>
  withEnv({ ...ENV, idTokenAlg: 'ES256' }, async ({ spa, server, page }) => {
    auth0Version();
    const opts = { cacheLocation: 'localstorage', useRefreshTokens: true };
    await openPage(page, spa.origin);
    await page.evaluate((o) => a0().make(o), opts);
    await page.evaluate(() => void a0().auth0.loginWithRedirect()).catch(() => undefined); // navigates away
    await submitLogin(page);
    await page.waitForURL((u) => u.origin === spa.origin && u.pathname === PAGE && u.searchParams.has('code'));
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    const exchanged = nextTokenResponse(page, server);
    const r = await page.evaluate(async (o) => {
      await a0().make(o);
      const error = await a0().errorOf(a0().auth0.handleRedirectCallback());
      return { error, authenticated: await a0().auth0.isAuthenticated(), rows: a0().auth0Storage().length };
    }, opts);
    const body = (await (await exchanged).json()) as { id_token?: string };
    const header = JSON.parse(Buffer.from((body.id_token ?? '').split('.')[0] ?? '', 'base64url').toString('utf8')) as { alg?: string };
    assert.equal(header.alg, 'ES256', 'the server signed the ID token with the client\'s algorithm');
    // node_modules/@auth0/auth0-spa-js/src/jwt.ts: `if (decoded.header.alg !== 'RS256') throw …`.
    assert.equal(
      r.error?.message,
      'Signature algorithm of "ES256" is not supported. Expected the ID token to be signed with "RS256".',
      JSON.stringify(r.error),
    );
    assert.equal(r.authenticated, false, 'the SDK kept nothing of the refused sign-in');
    assert.equal(r.rows, 0);
  }));
