import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PostResult } from '../../src/http.js';
import { postForm } from '../../src/http.js';
import { tokenWorker } from '../../src/worker.js';

/**
 * Runs the worker body in this process the way the Blob worker runs it — from its source text
 * with a fresh scope — against a fake `fetch`, to prove it is self-contained and keeps refresh
 * tokens to itself.
 */
type Call = { url: string; body: Record<string, string> };
function startWorker(respond: (c: Call) => { status: number; json: Record<string, unknown> }) {
  const calls: Call[] = [];
  let handler: ((e: { data: unknown; ports: MessagePort[] }) => Promise<void>) | undefined;
  const fakeFetch = async (url: string, init: { body: string }) => {
    const c = { url, body: Object.fromEntries(new URLSearchParams(init.body)) };
    calls.push(c);
    const r = respond(c);
    return { ok: r.status < 300, status: r.status, headers: new Headers(), text: async () => JSON.stringify(r.json) };
  };
  const fakeAddEventListener = (_t: string, fn: typeof handler) => (handler = fn);
  // Same wrapping as TokenWorker: `(${tokenWorker})(${postForm})`, evaluated with only worker globals in scope.
  new Function('fetch', 'addEventListener', `(${tokenWorker})(${postForm})`)(fakeFetch, fakeAddEventListener);
  const send = async (msg: Record<string, unknown>): Promise<PostResult> => {
    const ch = new MessageChannel();
    const got = new Promise<PostResult>((res) => (ch.port1.onmessage = (e) => res(e.data as PostResult)));
    await handler!({ data: msg, ports: [ch.port2] });
    const r = await got;
    ch.port1.close();
    return r;
  };
  return { calls, send };
}

const BASE = 'http://127.0.0.1:3000';

test('worker keeps refresh tokens to itself, injects them, rotates and forgets on invalid_grant', async () => {
  let n = 0;
  const w = startWorker((c) => {
    if (c.url.endsWith('/oauth/revoke')) return { status: 200, json: {} };
    if (c.body.refresh_token === 'rt-stale') return { status: 403, json: { error: 'invalid_grant', error_description: 'Unknown or invalid refresh token.' } };
    return { status: 200, json: { access_token: `at${++n}`, expires_in: 60, refresh_token: n === 3 ? 'rt-stale' : `rt${n}` } };
  });
  // Before init nothing is sent anywhere.
  assert.equal((await w.send({ t: 'token', body: { grant_type: 'refresh_token' }, keys: ['k'], timeout: 1000 })).ok, false);
  assert.equal(w.calls.length, 0);
  await w.send({ t: 'init', base: BASE });
  await w.send({ t: 'init', base: 'https://evil.example' }); // ignored: base is fixed by the first init

  const code = await w.send({ t: 'token', body: { grant_type: 'authorization_code', code: 'c' }, keys: ['k'], timeout: 1000 });
  assert.equal(code.ok, true);
  assert.equal(code.json.access_token, 'at1');
  assert.equal('refresh_token' in code.json, false, 'stripped before reaching the page');
  assert.equal(w.calls[0]!.url, `${BASE}/oauth/token`);

  const r1 = await w.send({ t: 'token', body: { grant_type: 'refresh_token', refresh_token: 'forged' }, keys: ['k'], timeout: 1000 });
  assert.equal(w.calls[1]!.body.refresh_token, 'rt1', 'the stored token is injected (page value overridden)');
  assert.equal(r1.rotated, true);
  assert.equal('refresh_token' in r1.json, false);

  // A superset-scope key falls back to the second key; the rotated token is stored under both.
  await w.send({ t: 'token', body: { grant_type: 'refresh_token' }, keys: ['k2', 'k'], timeout: 1000 });
  assert.equal(w.calls[2]!.body.refresh_token, 'rt2');
  const bad = await w.send({ t: 'token', body: { grant_type: 'refresh_token' }, keys: ['k2'], timeout: 1000 });
  assert.equal(bad.json.error, 'invalid_grant');
  const missing = await w.send({ t: 'token', body: { grant_type: 'refresh_token' }, keys: ['k', 'k2'], timeout: 1000 });
  assert.equal(missing.json.error, 'missing_refresh_token', 'invalid_grant forgot the token under every key');
  assert.equal(w.calls.length, 4, 'no request without a refresh token');
  assert.ok(w.calls.every((c) => c.url.startsWith(BASE)));
});

test('worker revoke and clear', async () => {
  const w = startWorker((c) => (c.url.endsWith('/oauth/revoke') ? { status: 200, json: {} } : { status: 200, json: { access_token: 'a', expires_in: 60, refresh_token: `rt-${c.body.code}` } }));
  await w.send({ t: 'init', base: BASE });
  await w.send({ t: 'token', body: { grant_type: 'authorization_code', code: '1' }, keys: ['a'], timeout: 1000 });
  await w.send({ t: 'token', body: { grant_type: 'authorization_code', code: '2' }, keys: ['b'], timeout: 1000 });
  await w.send({ t: 'clear', keep: 'b' });
  assert.equal((await w.send({ t: 'token', body: { grant_type: 'refresh_token' }, keys: ['a'], timeout: 1000 })).json.error, 'missing_refresh_token');
  await w.send({ t: 'revoke', body: { client_id: 'cid', token_type_hint: 'refresh_token' }, timeout: 1000 });
  const revoke = w.calls.filter((c) => c.url === `${BASE}/oauth/revoke`);
  assert.deepEqual(revoke.map((c) => c.body), [{ client_id: 'cid', token: 'rt-2', token_type_hint: 'refresh_token' }]);
  assert.equal((await w.send({ t: 'token', body: { grant_type: 'refresh_token' }, keys: ['b'], timeout: 1000 })).json.error, 'missing_refresh_token');
});

test('worker maps network failures and timeouts to error codes', async () => {
  const w = startWorker(() => {
    throw Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
  });
  await w.send({ t: 'init', base: BASE });
  const r = await w.send({ t: 'token', body: { grant_type: 'authorization_code' }, keys: ['k'], timeout: 1000 });
  assert.equal(r.ok, false);
  assert.equal(r.json.error, 'timeout');
});

test('worker: multi-resource refresh uses the latest token for a key of its own, revoke by key prefix forgets every holder', async () => {
  let n = 0;
  const w = startWorker((c) => (c.url.endsWith('/oauth/revoke') ? { status: 200, json: {} } : { status: 200, json: { access_token: `a${n}`, expires_in: 60, refresh_token: `rt${++n}` } }));
  await w.send({ t: 'init', base: BASE });
  await w.send({ t: 'token', body: { grant_type: 'authorization_code', code: 'c' }, keys: ['p::api-a::s'], timeout: 1000 }); // rt1
  const none = await w.send({ t: 'token', body: { grant_type: 'refresh_token' }, keys: ['p::api-b::s'], timeout: 1000 });
  assert.equal(none.json.error, 'missing_refresh_token', 'without mrrt another audience has no token');
  const b = await w.send({ t: 'token', body: { grant_type: 'refresh_token', audience: 'api-b' }, keys: ['p::api-b::s'], timeout: 1000, mrrt: true });
  assert.equal(b.ok, true);
  assert.equal(w.calls[1]!.body.refresh_token, 'rt1');
  assert.equal(w.calls[1]!.body.audience, 'api-b');
  await w.send({ t: 'token', body: { grant_type: 'refresh_token' }, keys: ['p::api-a::s'], timeout: 1000 });
  assert.equal(w.calls[2]!.body.refresh_token, 'rt2', 'the rotation under api-b replaced the token of api-a (one family)');
  await w.send({ t: 'seed', key: 'p::api-c::s', rt: 'migrated' });
  await w.send({ t: 'revoke', body: { client_id: 'cid' }, under: 'p::api-a::', timeout: 1000 });
  assert.deepEqual(w.calls.filter((c) => c.url.endsWith('/oauth/revoke')).map((c) => c.body.token), ['rt3']);
  const gone = await w.send({ t: 'token', body: { grant_type: 'refresh_token' }, keys: ['p::api-b::s'], timeout: 1000 });
  assert.equal(gone.json.error, 'missing_refresh_token', 'api-b held the same token: forgotten too');
  await w.send({ t: 'token', body: { grant_type: 'refresh_token' }, keys: ['p::api-c::s'], timeout: 1000 });
  assert.equal(w.calls.at(-1)!.body.refresh_token, 'migrated', 'a seeded token is used');
});
