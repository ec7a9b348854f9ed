// Fixtures for the Management SDK tests: the real `ratchet` binary on a fresh SQLite file and port
// 0, the CLI for what must exist before any token does (an M2M client and its client grant for the
// Management API), and the real browser sign-in flow driven over HTTP (no browser): `/authorize`
// with PKCE, the login form, the callback code, `/oauth/token`. Every wait is bounded; the server
// is killed and its directory removed in `stop`.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is crates/server/tests/management-sdk/test/harness.mjs). */
export const REPO = resolve(fileURLToPath(new URL('../../../../../', import.meta.url)));
export const RATCHET_BIN = process.env.RATCHET_BIN || join(REPO, 'target/debug/ratchet');

/** Every scope the tests' M2M client is granted on the Management API. */
export const MANAGEMENT_SCOPES = [
  'read:clients', 'create:clients', 'update:clients', 'delete:clients', 'read:client_keys', 'update:client_keys',
  'read:client_grants', 'create:client_grants', 'update:client_grants', 'delete:client_grants',
  'read:resource_servers', 'create:resource_servers', 'update:resource_servers', 'delete:resource_servers',
  'read:users', 'create:users', 'update:users', 'delete:users',
  'read:refresh_tokens', 'delete:refresh_tokens', 'read:sessions', 'delete:sessions',
  'read:logs', 'read:logs_users', 'read:stats',
];

/** Fails loudly (never skips) when the binary is missing. */
export function requireBinary() {
  try {
    accessSync(RATCHET_BIN, constants.X_OK);
  } catch {
    throw new Error(`ratchet binary not found or not executable at ${RATCHET_BIN} (cargo build -p ratchet-server, or set RATCHET_BIN)`);
  }
}

function run(args, env, timeoutMs = 30_000) {
  return new Promise((res, rej) => {
    execFile(RATCHET_BIN, args, { env, timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`ratchet ${args.join(' ')} failed: ${err.message}\nstdout: ${stdout}\nstderr: ${stderr}`));
      else res(stdout);
    });
  });
}

function parseJson(stdout, what) {
  try {
    return JSON.parse(stdout.trim());
  } catch {
    throw new Error(`${what}: expected one JSON object on stdout, got: ${stdout}`);
  }
}

/** Kills `p` (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
function kill(p) {
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

/**
 * Starts `ratchet serve` on 127.0.0.1:0 with a fresh database, then creates with the CLI an M2M
 * client and a client grant for `https://127.0.0.1:PORT/api/v2/` (the audience the SDKs ask for,
 * even over http) with `MANAGEMENT_SCOPES`.
 */
export async function startRatchet() {
  requireBinary();
  const dir = mkdtempSync(join(tmpdir(), 'ratchet-mgmt-sdk-'));
  const database = `sqlite://${join(dir, 'ratchet.db')}`;
  const env = {
    ...process.env,
    RATCHET_MASTER_KEY: randomBytes(32).toString('hex'),
    RATCHET_DATABASE_URL: database,
    RUST_LOG: process.env.RUST_LOG ?? 'info',
  };
  let child;
  let output = '';
  const stop = async () => {
    if (child) await kill(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    child = spawn(RATCHET_BIN, ['--database', database, 'serve', '--listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => (output += d));
    const url = await new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`ratchet serve did not print "listening on" within 20 s\n${output}`)), 20_000);
      child.stdout.on('data', (d) => {
        output += d;
        const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)\/$/m.exec(output);
        if (m) {
          clearTimeout(timer);
          res(m[1]);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        rej(new Error(`ratchet serve exited (${code}) before listening\n${output}`));
      });
    });
    const host = url.slice('http://'.length);
    const audience = `https://${host}/api/v2/`;
    // The CLI learns the issuer (which names the Management API) from RATCHET_ISSUER.
    const cliEnv = { ...env, RATCHET_ISSUER: `${url}/` };
    const cli = async (...args) => parseJson(await run(['--database', database, ...args, '--json'], cliEnv), args.slice(0, 2).join(' '));
    const m2m = await cli('clients', 'create', '--name', 'management sdk tests', '--type', 'm2m');
    if (!m2m.client_id || !m2m.client_secret) throw new Error(`clients create --type m2m: no client_id/client_secret in ${JSON.stringify(m2m)}`);
    await cli('client-grants', 'create', '--client-id', m2m.client_id, '--audience', audience, ...MANAGEMENT_SCOPES.flatMap((s) => ['--scope', s]));
    return { url, host, audience, clientId: m2m.client_id, clientSecret: m2m.client_secret, cli, log: () => output, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The SDKs hard-code https://; this `fetch` sends their requests to the plain-http server. */
export const toHttp = (url, init) => fetch(String(url).replace(/^https:\/\//, 'http://'), init);

// ------------------------------------------------------------------ the browser sign-in flow

/** A cookie jar for one simulated browser: name=value pairs from Set-Cookie, sent back as Cookie. */
class Jar {
  cookies = new Map();
  take(res) {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
  }
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/**
 * Signs `email` in at `client_id` through the real flow, as a browser with `userAgent` would, and
 * returns the token response (with a refresh token when `audience` allows offline access).
 */
export async function signIn(base, { clientId, redirectUri, email, password, audience, userAgent = 'management-sdk-test-browser/1.0' }) {
  const jar = new Jar();
  const go = async (url, init = {}) => {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers ?? {}), cookie: jar.header(), 'user-agent': userAgent },
      signal: AbortSignal.timeout(15_000),
    });
    jar.take(res);
    return res;
  };
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const authorize = new URL('/authorize', base);
  for (const [k, v] of Object.entries({
    client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid profile email offline_access',
    audience, state: 'sdk-state', nonce: 'sdk-nonce', code_challenge: challenge, code_challenge_method: 'S256',
  })) authorize.searchParams.set(k, v);
  let res = await go(authorize);
  if (res.status !== 302) throw new Error(`/authorize answered ${res.status}: ${await res.text()}`);
  const login = new URL(res.headers.get('location'), base);
  const html = await (await go(login)).text();
  const tx = /name="state" value="([^"]+)"/.exec(html)?.[1];
  if (!tx) throw new Error(`no hidden state field on the login page: ${html.slice(0, 500)}`);
  res = await go(new URL('/u/login', base), {
    method: 'POST',
    headers: { origin: base, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ state: tx, username: email, password }).toString(),
  });
  if (res.status !== 302) throw new Error(`/u/login answered ${res.status}: ${await res.text()}`);
  const callback = new URL(res.headers.get('location'));
  const code = callback.searchParams.get('code');
  if (!code) throw new Error(`no code in ${callback}`);
  res = await go(new URL('/oauth/token', base), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', client_id: clientId, code, code_verifier: verifier, redirect_uri: redirectUri }).toString(),
  });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`code exchange answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

/** POST /oauth/token with a form body (a refresh, outside any SDK). */
export async function token(base, params) {
  const res = await fetch(new URL('/oauth/token', base), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, json: await res.json() };
}
