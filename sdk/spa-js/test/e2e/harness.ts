/**
 * End-to-end fixtures: the real `ratchet` binary (own database per test: a temp SQLite file, or
 * a fresh PostgreSQL database created with `psql` and dropped afterwards), a small
 * static server for the SPA pages on another port (the SPA origin), and headless Debian Chromium
 * driven by playwright-core. Every wait is bounded; everything spawned is killed in `stop`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** sdk/spa-js (this file runs from sdk/spa-js/.test-build/test/e2e/). */
export const PKG = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
export const REPO = resolve(PKG, '../..');
export const RATCHET_BIN = process.env.RATCHET_BIN || join(REPO, 'target/debug/ratchet');
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const PAGES = join(PKG, 'test/e2e/pages');
const BUNDLE = join(PKG, 'dist/ratchet-spa.js');
/** The unmodified Auth0 SPA SDK (devDependency), served under /auth0-spa-js/ by the SPA server. */
export const AUTH0_DIST = join(PKG, 'node_modules/@auth0/auth0-spa-js/dist');

export const EMAIL = 'ada@example.com';
export const PASSWORD = 'correct horse battery staple 42';
export const AUDIENCE = 'https://api.ratchet.test';
/** The administrator of the admin console, created with `users create --admin` when asked for. */
export const ADMIN_EMAIL = 'root@example.com';
export const ADMIN_PASSWORD = 'admin password of the e2e tests';

/** Fails loudly (never skips) when a prerequisite is missing. */
export function requirePrerequisites(): void {
  const missing: string[] = [];
  try {
    accessSync(RATCHET_BIN, constants.X_OK);
  } catch {
    missing.push(`ratchet binary not found or not executable at ${RATCHET_BIN} (build it: cargo build -p ratchet-server, or set RATCHET_BIN)`);
  }
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch {
    missing.push(`chromium not found at ${CHROMIUM} (apt-get install -y chromium)`);
  }
  if (!existsSync(BUNDLE)) missing.push(`SDK bundle missing at ${BUNDLE} (npm run build)`);
  if (missing.length) throw new Error(`e2e prerequisites missing:\n  ${missing.join('\n  ')}`);
}

// ------------------------------------------------------------------ SPA static server

export interface Spa {
  origin: string;
  /** What GET /config.json answers. */
  config: Record<string, unknown>;
  stop(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.css': 'text/css',
};

export const DEMO = join(REPO, 'examples/spa');

/**
 * Serves `root` (default test/e2e/pages), `/ratchet-spa.js` (the built bundle) and `/config.json`;
 * `/` is `index` — the same contract as `ratchet serve --demo` for examples/spa.
 */
export async function startSpa(index = 'app.html', root = PAGES): Promise<Spa> {
  const spa: Spa = { origin: '', config: {}, stop: async () => undefined };
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const send = (status: number, type: string, body: string | Buffer): void => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    };
    if (path === '/config.json') return send(200, TYPES['.json']!, JSON.stringify(spa.config));
    // csp.html: app.html under a Content-Security-Policy whose worker-src has no blob:.
    if (path === '/csp.html') res.setHeader('Content-Security-Policy', "worker-src 'self'");
    let file: string;
    if (path === '/ratchet-spa.js' || path === '/ratchet-spa.js.map' || path === '/ratchet-spa.worker.js' || path === '/ratchet-spa-dpop.js') file = join(PKG, 'dist', path);
    else if (path === '/csp.html') file = join(PAGES, 'app.html');
    else if (/^\/auth0-spa-js\/auth0-spa-js\.[\w.-]+$/.test(path)) file = join(AUTH0_DIST, path.slice('/auth0-spa-js/'.length));
    else if (path === '/') file = join(root, index);
    else file = join(root, normalize(path).replace(/^(\.\.[/\\])+/, ''));
    if (!file.startsWith(root) && !file.startsWith(PKG)) return send(404, 'text/plain', 'not found');
    if (!existsSync(file)) return send(404, 'text/plain', 'not found');
    return send(200, TYPES[extname(file)] ?? 'application/octet-stream', readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  spa.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  spa.stop = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return spa;
}

// ------------------------------------------------------------------ ratchet server

export interface RatchetOptions {
  spaOrigin: string;
  /** Reuse grace window of the client (seconds). Default 0: any replay is reuse. */
  leeway?: number;
  /** Access-token lifetime of the API (seconds). */
  tokenLifetime?: number;
  /** Extra SPA paths (e.g. '/auth0.html') registered as callback and logout URLs. */
  pages?: string[];
  /** More APIs (audience → access-token lifetime). */
  apis?: Record<string, number>;
  /** `clients update --refresh-policy` values (AUDIENCE=SCOPE1,SCOPE2). */
  refreshPolicies?: string[];
  /** `clients update --id-token-alg`: the client's ID-token signing algorithm (default RS256). */
  idTokenAlg?: string;
  /** Also create the administrator ADMIN_EMAIL (the admin console's tests). */
  administrator?: boolean;
  /** More `serve` arguments. */
  serveArgs?: string[];
  /** The engine: a temp SQLite file (default), or a fresh PostgreSQL database `ratchet_e2e_<random>`
   * on the server at RATCHET_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432, as the
   * store's contract tests), dropped when the server stops. */
  database?: Engine;
}

export type Engine = 'sqlite' | 'postgres';

/** The PostgreSQL server the `postgres` engine uses (trust authentication, user postgres). */
const POSTGRES = (process.env.RATCHET_TEST_POSTGRES || 'postgres://postgres@127.0.0.1:5432').replace(/\/$/, '');

/** Runs one SQL statement with `psql` on the PostgreSQL server's maintenance database. */
function psql(sql: string): Promise<void> {
  return new Promise((res, rej) => {
    execFile('psql', [`${POSTGRES}/postgres`, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err) rej(new Error(`psql -c "${sql}" failed (is PostgreSQL up at ${POSTGRES}?): ${err.message}\n${stderr}`));
      else res();
    });
  });
}

/** A fresh, uniquely named PostgreSQL database: its URL and how to drop it. */
async function postgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `ratchet_e2e_${randomBytes(8).toString('hex')}`;
  await psql(`CREATE DATABASE ${name}`);
  return { url: `${POSTGRES}/${name}`, drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

export interface Ratchet {
  url: string;
  clientId: string;
  audience: string;
  log(): string;
  metrics(): Promise<Record<string, number>>;
  /** Runs the `ratchet` command line on the server's database; returns its stdout. */
  cli?(args: string[]): Promise<string>;
  /** POST /oauth/token with a form body, from node (out of band). */
  token(body: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }>;
  stop(): Promise<void>;
}

function run(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<string> {
  return new Promise((res, rej) => {
    execFile(RATCHET_BIN, args, { env, timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`ratchet ${args.join(' ')} failed: ${err.message}\nstdout: ${stdout}\nstderr: ${stderr}`));
      else res(stdout);
    });
  });
}

function json(stdout: string, what: string): Record<string, unknown> {
  try {
    return JSON.parse(stdout.trim());
  } catch {
    throw new Error(`${what}: expected one JSON object on stdout, got: ${stdout}`);
  }
}

/** Kills `p` (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
function kill(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    p.once('exit', () => {
      clearTimeout(t);
      r();
    });
    p.kill('SIGTERM');
  });
}

export async function startRatchet(o: RatchetOptions): Promise<Ratchet> {
  const postgres = o.database === 'postgres' ? await postgresDatabase() : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'ratchet-e2e-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RATCHET_MASTER_KEY: randomBytes(32).toString('hex'),
    RATCHET_DATABASE_URL: postgres?.url ?? `sqlite://${join(dir, 'ratchet.db')}`,
    RUST_LOG: process.env.RUST_LOG ?? 'info',
  };
  let child: ChildProcess | undefined;
  let output = '';
  const cleanup = async (): Promise<void> => {
    if (child) await kill(child);
    rmSync(dir, { recursive: true, force: true });
    await postgres?.drop();
  };
  try {
    const db = ['--database', env.RATCHET_DATABASE_URL!];
    const spa = o.spaOrigin;
    const client = json(
      await run(
        [
          ...db, 'clients', 'create', '--name', 'e2e spa', '--type', 'spa',
          '--callback', spa, '--callback', `${spa}/`, '--callback', `${spa}/app.html`, '--callback', `${spa}/seed.html`,
          '--web-origin', spa,
          '--logout-url', `${spa}/app.html`, '--logout-url', `${spa}/`, '--logout-url', spa,
          ...['/csp.html', ...(o.pages ?? [])].flatMap((p) => ['--callback', `${spa}${p}`, '--logout-url', `${spa}${p}`]),
          '--rotation', 'rotating', '--leeway', String(o.leeway ?? 0), '--json',
        ],
        env,
      ),
      'clients create',
    );
    const clientId = String(client.client_id ?? '');
    if (!clientId) throw new Error(`clients create: no client_id in ${JSON.stringify(client)}`);
    json(await run([...db, 'users', 'create', '--email', EMAIL, '--password', PASSWORD, '--name', 'Ada Lovelace', '--json'], env), 'users create');
    json(
      await run([...db, 'apis', 'create', '--audience', AUDIENCE, '--name', 'e2e api', '--allow-offline-access', '--token-lifetime', String(o.tokenLifetime ?? 3600), '--json'], env),
      'apis create',
    );
    if (o.administrator) {
      json(await run([...db, 'users', 'create', '--email', ADMIN_EMAIL, '--password', ADMIN_PASSWORD, '--admin', '--json'], env), 'users create --admin');
    }
    for (const [aud, lifetime] of Object.entries(o.apis ?? {})) {
      json(await run([...db, 'apis', 'create', '--audience', aud, '--allow-offline-access', '--token-lifetime', String(lifetime), '--json'], env), 'apis create');
    }
    if (o.refreshPolicies?.length) {
      json(await run([...db, 'clients', 'update', clientId, ...o.refreshPolicies.flatMap((p) => ['--refresh-policy', p]), '--json'], env), 'clients update');
    }
    if (o.idTokenAlg) {
      json(await run([...db, 'clients', 'update', clientId, '--id-token-alg', o.idTokenAlg, '--json'], env), 'clients update');
    }

    const proc = spawn(RATCHET_BIN, [...db, 'serve', '--listen', '127.0.0.1:0', ...(o.serveArgs ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout!.setEncoding('utf8');
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => (output += d));
    const url = await new Promise<string>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`ratchet serve did not print "listening on" within 20 s\n${output}`)), 20_000);
      proc.stdout!.on('data', (d: string) => {
        output += d;
        const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)\/$/m.exec(output);
        if (m) {
          clearTimeout(timer);
          res(m[1]!);
        }
      });
      proc.once('exit', (code, sig) => {
        clearTimeout(timer);
        rej(new Error(`ratchet serve exited early (code ${code}, signal ${sig})\n${output}`));
      });
    });
    const health = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5000) });
    if (health.status !== 200) throw new Error(`GET /healthz → ${health.status}`);

    return {
      url,
      clientId,
      audience: AUDIENCE,
      log: () => output,
      cli: (args) => run([...db, ...args], env),
      async metrics() {
        const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
        const out: Record<string, number> = {};
        for (const m of text.matchAll(/^ratchet_events_total\{type="([a-z_]+)"\}\s+(\d+(?:\.\d+)?)/gm)) out[m[1]!] = Number(m[2]);
        return out;
      },
      async token(body) {
        const r = await fetch(`${url}/oauth/token`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(body).toString(),
          signal: AbortSignal.timeout(10_000),
        });
        return { status: r.status, json: (await r.json().catch(() => ({}))) as Record<string, unknown> };
      },
      stop: cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

// ------------------------------------------------------------------ browser

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    timeout: 30_000,
  });
}

export interface Env {
  spa: Spa;
  server: Ratchet;
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Browser console and page errors, for failure messages. */
  console: string[];
}

/**
 * Runs `fn` with a fresh SPA server, ratchet server (own database) and browser; always tears
 * everything down. On failure the server log and the browser console are appended to the error.
 */
export async function withEnv(opts: Omit<RatchetOptions, 'spaOrigin'> & { index?: string; root?: string }, fn: (env: Env) => Promise<void>): Promise<void> {
  requirePrerequisites();
  const spa = await startSpa(opts.index, opts.root);
  let server: Ratchet | undefined;
  let browser: Browser | undefined;
  const consoleLines: string[] = [];
  try {
    server = await startRatchet({ ...opts, spaOrigin: spa.origin });
    spa.config = { domain: server.url, client_id: server.clientId, audience: server.audience };
    browser = await launchBrowser();
    const context = await browser.newContext();
    context.setDefaultTimeout(15_000);
    context.setDefaultNavigationTimeout(15_000);
    const page = await context.newPage();
    watch(page, consoleLines, 'A');
    await fn({ spa, server, browser, context, page, console: consoleLines });
  } catch (e) {
    const err = e as Error;
    err.message += `\n--- ratchet log (tail) ---\n${(server?.log() ?? '').slice(-4000)}\n--- browser console ---\n${consoleLines.slice(-60).join('\n')}`;
    throw err;
  } finally {
    await browser?.close().catch(() => undefined);
    await server?.stop();
    await spa.stop();
  }
}

export function watch(page: Page, lines: string[], tag: string): void {
  page.on('console', (m) => lines.push(`[${tag} console.${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => lines.push(`[${tag} pageerror] ${e.message}`));
}

// ------------------------------------------------------------------ flows

export async function openApp(page: Page, origin: string, path = '/app.html'): Promise<void> {
  await page.goto(`${origin}${path}`);
  await page.waitForFunction(() => window.ready === true);
}

/** Fills and submits the ratchet login form (the page must be on its way to /u/login). */
export async function submitLogin(page: Page): Promise<void> {
  await page.waitForSelector('input[name="username"]');
  await page.fill('input[name="username"]', EMAIL);
  await page.fill('input[name="password"]', PASSWORD);
  const posted = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/u/login', { timeout: 10_000 }).catch(() => undefined);
  await page.click('button[type="submit"]');
  const res = await posted;
  if (!res) throw new Error('login form: the browser sent no POST /u/login (blocked? see the browser console below)');
  if (res.status() >= 400) {
    const text = await res.text().catch(() => '');
    const reason = /<p class="error"[^>]*>([^<]*)</.exec(text)?.[1] ?? text.slice(0, 300);
    const h = await res.request().allHeaders();
    throw new Error(`login form: POST /u/login answered ${res.status()}: ${reason} (request origin: ${h.origin}, sec-fetch-site: ${h['sec-fetch-site']})`);
  }
}

/**
 * Full redirect login from app.html with `make(opts)`; returns on app.html with the callback
 * handled and the URL cleaned.
 */
export async function login(page: Page, origin: string, opts: Record<string, unknown> = {}, path = '/app.html'): Promise<void> {
  await openApp(page, origin, path);
  await page.evaluate((o) => window.make(o), opts);
  await page.evaluate(() => void window.auth0.loginWithRedirect()).catch(() => undefined); // navigates away
  await submitLogin(page);
  await page.waitForURL((u) => u.origin === origin && u.pathname === path && u.searchParams.has('code'));
  await page.waitForFunction(() => window.ready === true);
  await page.evaluate(async (o) => {
    await window.make(o);
    await window.auth0.handleRedirectCallback();
    history.replaceState(null, '', location.pathname);
  }, opts);
}

/** The harness page's globals (test/e2e/pages/app.html), as used inside page.evaluate. */
interface PageGlobals {
  ready?: boolean;
  make(opts?: Record<string, unknown>): Promise<boolean>;
  auth0: {
    loginWithRedirect(o?: unknown): Promise<void>;
    handleRedirectCallback(url?: string): Promise<unknown>;
    getTokenSilently(o?: unknown): Promise<unknown>;
    getUser(): Promise<Record<string, unknown> | undefined>;
    getIdTokenClaims(): Promise<Record<string, unknown> | undefined>;
    isAuthenticated(): Promise<boolean>;
    logout(o?: unknown): Promise<void>;
    loginWithPopup(o?: unknown, c?: unknown): Promise<void>;
    getTokenWithPopup(o?: unknown, c?: unknown): Promise<string | undefined>;
    revokeRefreshToken(o?: unknown): Promise<void>;
    getConfiguration(): { domain: string; clientId: string };
    on(type: string, fn: (detail: unknown) => void): () => void;
  };
  events: Record<string, unknown>[];
  atTime<T>(t: number, fn: () => Promise<T>): Promise<T>;
  errorOf(p: Promise<unknown>): Promise<{ error?: string; error_description?: string; name?: string; message: string } | null>;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-empty-interface
  interface Window extends PageGlobals {}
}

/** Reads the localstorage-mode IndexedDB vault (entries including refresh tokens). */
export interface VaultRow {
  key: string;
  refresh_token?: string;
  access_token?: string;
  obtainedAt?: number;
  expiresAt?: number;
}

export async function vault(page: Page): Promise<VaultRow[]> {
  return page.evaluate(
    () =>
      new Promise<VaultRow[]>((resolve, reject) => {
        const r = indexedDB.open('ratchet-spa-js');
        r.onerror = () => reject(r.error);
        r.onsuccess = () => {
          const db = r.result;
          if (!db.objectStoreNames.contains('tokens')) {
            db.close();
            return resolve([]);
          }
          const out: VaultRow[] = [];
          const c = db.transaction('tokens').objectStore('tokens').openCursor();
          c.onsuccess = () => {
            const cur = c.result;
            if (!cur) {
              db.close();
              return resolve(out);
            }
            out.push({ ...(cur.value as object), key: String(cur.key) });
            cur.continue();
          };
        };
      }),
  );
}

export function delta(after: Record<string, number>, before: Record<string, number>, type: string): number {
  return (after[type] ?? 0) - (before[type] ?? 0);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
