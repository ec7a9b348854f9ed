// The official Auth0 Management SDK (node `auth0` 7.1.0, unmodified, and its bundled legacy v4
// API) against a real `ratchet serve`: it gets its own token by client credentials, then manages
// clients, resource servers, client grants and users, lists and revokes a signed-in user's refresh
// tokens and sessions, and reads the logs and stats. The only concession to a plain-http server is
// the documented `fetch` that rewrites `https://` to `http://` (see docs/management-api.md).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Management, ManagementClient, ManagementError } from 'auth0';
import { AuthenticationClient, ManagementClient as LegacyManagementClient } from 'auth0/legacy';

import { signIn, startRatchet, toHttp, token } from './harness.mjs';

const CONNECTION = 'Username-Password-Authentication';
const API = 'https://api.sdk.test';
const CALLBACK = 'http://127.0.0.1:9/callback';
const PASSWORD = 'correct horse battery staple 42';

/** Runs `call`, expecting the SDK to throw `Class` with Auth0's error body carrying `errorCode`. */
async function rejects(call, Class, statusCode, errorCode) {
  await assert.rejects(call, (e) => {
    assert.ok(e instanceof Class, `expected ${Class.name}, got ${e?.constructor?.name}: ${e?.message}`);
    assert.ok(e instanceof ManagementError);
    assert.equal(e.statusCode, statusCode);
    if (errorCode) assert.equal(e.body?.errorCode, errorCode, JSON.stringify(e.body));
    assert.equal(e.body?.statusCode, statusCode, JSON.stringify(e.body));
    return true;
  });
}

describe('node auth0 7.1.0 ManagementClient against ratchet serve', () => {
  let r;
  let mgmt;
  /** Made by the tests below, in order. */
  const made = {};

  before(async () => {
    r = await startRatchet();
    mgmt = new ManagementClient({ domain: r.host, clientId: r.clientId, clientSecret: r.clientSecret, fetch: toHttp });
  });

  after(async () => {
    await r?.stop();
  });

  it('the management token comes from client credentials with the grant scopes, for the https audience', async () => {
    const { status, json } = await token(r.url, {
      grant_type: 'client_credentials', client_id: r.clientId, client_secret: r.clientSecret, audience: r.audience,
    });
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(json.token_type, 'Bearer');
    const claims = JSON.parse(Buffer.from(json.access_token.split('.')[1], 'base64url').toString());
    assert.equal(claims.aud, r.audience);
    assert.equal(claims.sub, `${r.clientId}@clients`);
    assert.equal(claims.gty, 'client-credentials');
    assert.equal(claims.azp, r.clientId);
    assert.ok(claims.scope.split(' ').includes('read:clients'), claims.scope);
  });

  it('lists clients (its own M2M client included) with a token it got by itself', async () => {
    const page = await mgmt.clients.list();
    assert.ok(page.data.some((c) => c.client_id === r.clientId), JSON.stringify(page.response));
    assert.equal(typeof page.response.total, 'number');
    const rate = page.rawResponse.headers;
    for (const h of ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']) assert.ok(rate.get(h), `missing ${h}`);
  });

  it('resource servers: the Management API is listed as a system API; create, get, update, list', async () => {
    const before = await mgmt.resourceServers.list();
    const system = before.data.find((s) => s.is_system);
    assert.ok(system, `no system API in ${JSON.stringify(before.response)}`);
    const created = await mgmt.resourceServers.create({
      name: 'SDK API', identifier: API, allow_offline_access: true, token_lifetime: 3600,
      scopes: [{ value: 'read:messages', description: 'Read messages' }],
    });
    assert.equal(created.identifier, API);
    assert.deepEqual(created.scopes, [{ value: 'read:messages', description: 'Read messages' }]);
    made.api = created;
    const got = await mgmt.resourceServers.get(created.id);
    assert.equal(got.identifier, API);
    const updated = await mgmt.resourceServers.update(created.id, {
      name: 'SDK API (renamed)',
      scopes: [{ value: 'read:messages', description: 'Read messages' }, { value: 'write:messages', description: 'Write messages' }],
    });
    assert.equal(updated.name, 'SDK API (renamed)');
    assert.equal(updated.scopes.length, 2);
    const after = await mgmt.resourceServers.list();
    assert.ok(after.data.some((s) => s.id === created.id && s.name === 'SDK API (renamed)'));
    await rejects(() => mgmt.resourceServers.create({ name: 'again', identifier: API }), Management.ConflictError, 409);
  });

  it('clients: create a SPA and a regular web app, get, update the refresh_token object, rotate a secret, delete', async () => {
    const spa = await mgmt.clients.create({
      name: 'SDK SPA', app_type: 'spa', callbacks: [CALLBACK], allowed_logout_urls: ['http://127.0.0.1:9/'], web_origins: ['http://127.0.0.1:9'],
    });
    assert.ok(spa.client_id);
    assert.equal(spa.app_type, 'spa');
    made.spa = spa;
    const updated = await mgmt.clients.update(spa.client_id, {
      name: 'SDK SPA (renamed)',
      refresh_token: {
        rotation_type: 'rotating', expiration_type: 'expiring', leeway: 0,
        token_lifetime: 86400, infinite_token_lifetime: false, idle_token_lifetime: 3600, infinite_idle_token_lifetime: false,
      },
    });
    assert.equal(updated.name, 'SDK SPA (renamed)');
    assert.equal(updated.refresh_token.idle_token_lifetime, 3600);
    assert.equal((await mgmt.clients.get(spa.client_id)).refresh_token.token_lifetime, 86400);

    const web = await mgmt.clients.create({ name: 'SDK web app', app_type: 'regular_web', callbacks: [CALLBACK] });
    assert.ok(web.client_secret, 'a confidential client gets a secret on creation');
    const rotated = await mgmt.clients.rotateSecret(web.client_id);
    assert.ok(rotated.client_secret && rotated.client_secret !== web.client_secret, 'rotate-secret answers a new secret');
    const list = await mgmt.clients.list({ per_page: 100 });
    assert.ok(list.data.some((c) => c.client_id === web.client_id));
    assert.ok(list.data.some((c) => c.client_id === spa.client_id));
    await mgmt.clients.delete(web.client_id);
    await rejects(() => mgmt.clients.get(web.client_id), Management.NotFoundError, 404);
  });

  it('client grants: create, duplicate is 409, list by client, update scopes, delete', async () => {
    const grant = await mgmt.clientGrants.create({ client_id: made.spa.client_id, audience: API, scope: ['read:messages'] });
    assert.equal(grant.client_id, made.spa.client_id);
    assert.equal(grant.audience, API);
    assert.deepEqual(grant.scope, ['read:messages']);
    await rejects(
      () => mgmt.clientGrants.create({ client_id: made.spa.client_id, audience: API, scope: ['read:messages'] }),
      Management.ConflictError, 409,
    );
    await rejects(
      () => mgmt.clientGrants.create({ client_id: r.clientId, audience: API, scope: ['delete:everything'] }),
      Management.BadRequestError, 400,
    );
    const listed = await mgmt.clientGrants.list({ client_id: made.spa.client_id });
    assert.deepEqual(listed.data.map((g) => g.id), [grant.id]);
    const all = await mgmt.clientGrants.list();
    // Created for `https://HOST/api/v2/`, it is stored and listed under the Management API's
    // identifier, `{issuer}api/v2/` (the same API).
    assert.ok(all.data.some((g) => g.client_id === r.clientId && g.audience === `${r.url}/api/v2/`), 'the CLI-created grant is listed');
    const updated = await mgmt.clientGrants.update(grant.id, { scope: ['read:messages', 'write:messages'] });
    assert.deepEqual([...updated.scope].sort(), ['read:messages', 'write:messages']);
    await mgmt.clientGrants.delete(grant.id);
    assert.deepEqual((await mgmt.clientGrants.list({ client_id: made.spa.client_id })).data, []);
  });

  it('users: create, get by a percent-encoded id, update metadata, search by email, 409 on a duplicate', async () => {
    const email = 'ada@sdk.test';
    const user = await mgmt.users.create({ connection: CONNECTION, email, password: PASSWORD, name: 'Ada Lovelace', user_metadata: { theme: 'dark' } });
    assert.ok(user.user_id.includes('|'), `user ids are provider|id: ${user.user_id}`);
    assert.equal(user.email, email);
    made.user = user;
    const got = await mgmt.users.get(user.user_id);
    assert.equal(got.user_id, user.user_id);
    const updated = await mgmt.users.update(user.user_id, { user_metadata: { lang: 'en' }, app_metadata: { plan: 'pro' } });
    assert.deepEqual(updated.user_metadata, { theme: 'dark', lang: 'en' }, 'metadata is merged');
    assert.deepEqual(updated.app_metadata, { plan: 'pro' });
    const found = await mgmt.users.list({ q: `email:"${email}"` });
    assert.deepEqual(found.data.map((u) => u.user_id), [user.user_id]);
    assert.equal(found.response.total, 1);
    const byEmail = await mgmt.users.listUsersByEmail({ email });
    assert.deepEqual(byEmail.map((u) => u.user_id), [user.user_id]);
    await assert.rejects(() => mgmt.users.create({ connection: CONNECTION, email, password: PASSWORD }), (e) => e instanceof ManagementError && e.statusCode === 409);
    await rejects(() => mgmt.users.get('auth0|nobody'), Management.NotFoundError, 404, 'inexistent_user');
  });

  it("a signed-in user's refresh tokens and sessions: list, revoke one session with its tokens, revoke the rest", async () => {
    const signin = (userAgent) =>
      signIn(r.url, { clientId: made.spa.client_id, redirectUri: CALLBACK, email: made.user.email, password: PASSWORD, audience: API, userAgent });
    const first = await signin('laptop-browser/1.0');
    const second = await signin('phone-browser/2.0');
    assert.ok(first.refresh_token && second.refresh_token, 'offline_access at an API that allows it gives refresh tokens');
    made.userAgents = ['laptop-browser/1.0', 'phone-browser/2.0'];

    const tokens = await mgmt.users.refreshToken.list(made.user.user_id);
    assert.equal(tokens.data.length, 2, JSON.stringify(tokens.response));
    for (const t of tokens.data) {
      assert.equal(t.user_id, made.user.user_id);
      assert.equal(t.client_id, made.spa.client_id);
      assert.ok(t.session_id, 'each refresh token names the session it was minted in');
      assert.ok(t.resource_servers.some((rs) => rs.audience === API), JSON.stringify(t.resource_servers));
    }
    const sessions = await mgmt.users.sessions.list(made.user.user_id);
    assert.equal(sessions.data.length, 2, JSON.stringify(sessions.response));
    const laptop = sessions.data.find((s) => s.device?.initial_user_agent === 'laptop-browser/1.0');
    assert.ok(laptop, `the session records its user agent: ${JSON.stringify(sessions.data)}`);
    assert.equal((await mgmt.sessions.get(laptop.id)).user_id, made.user.user_id);
    const laptopToken = tokens.data.find((t) => t.session_id === laptop.id);
    assert.ok(laptopToken, 'a refresh token carries the sid of its session');
    assert.equal((await mgmt.refreshTokens.get(laptopToken.id)).id, laptopToken.id);

    const refresh = (rt) => token(r.url, { grant_type: 'refresh_token', client_id: made.spa.client_id, refresh_token: rt });
    // Revoking the laptop session kills exactly its refresh tokens.
    await mgmt.sessions.revoke(laptop.id);
    const [laptopRt, phoneRt] = first.id_token && JSON.parse(Buffer.from(first.id_token.split('.')[1], 'base64url')).sid === laptop.id
      ? [first.refresh_token, second.refresh_token]
      : [second.refresh_token, first.refresh_token];
    assert.equal((await refresh(laptopRt)).json.error, 'invalid_grant');
    const phone = await refresh(phoneRt);
    assert.equal(phone.status, 200, JSON.stringify(phone.json));
    assert.equal((await mgmt.users.sessions.list(made.user.user_id)).data.length, 1);

    // Revoking every refresh token of the user; then every session.
    await mgmt.users.refreshToken.delete(made.user.user_id);
    assert.equal((await refresh(phone.json.refresh_token)).json.error, 'invalid_grant');
    assert.deepEqual((await mgmt.users.refreshToken.list(made.user.user_id)).data, []);
    await mgmt.users.sessions.delete(made.user.user_id);
    assert.deepEqual((await mgmt.users.sessions.list(made.user.user_id)).data, []);
  });

  it('logs: search with Lucene terms, get one by log_id, a user\'s logs, checkpoint paging, sapi writes', async () => {
    // Successful logins (`s`) are written in the background within a few milliseconds.
    let logins = [];
    for (let i = 0; i < 50 && logins.length < 2; i++) {
      logins = (await mgmt.logs.list({ search: `type:s AND user_id:"${made.user.user_id}"` })).data;
      if (logins.length < 2) await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(logins.length, 2, JSON.stringify(logins));
    for (const l of logins) {
      assert.equal(l.type, 's');
      assert.equal(l.user_id, made.user.user_id);
      assert.equal(l.user_name, made.user.email);
      assert.equal(l.client_id, made.spa.client_id);
      assert.equal(l.client_name, 'SDK SPA (renamed)');
      assert.equal(l.ip, '127.0.0.1');
      assert.ok(made.userAgents.includes(l.user_agent), l.user_agent);
      assert.ok(!Number.isNaN(Date.parse(l.date)), `date is ISO 8601: ${l.date}`);
    }
    assert.ok(Date.parse(logins[0].date) >= Date.parse(logins[1].date), 'newest first by default');
    const one = await mgmt.logs.get(logins[0].log_id);
    assert.equal(one.log_id, logins[0].log_id);
    await rejects(() => mgmt.logs.get('999999999'), Management.NotFoundError, 404, 'inexistent_log');

    const userLogs = await mgmt.users.logs.list(made.user.user_id);
    assert.ok(userLogs.data.some((l) => l.log_id === logins[0].log_id));
    assert.ok(userLogs.data.every((l) => l.user_id === made.user.user_id));

    const writes = await mgmt.logs.list({ search: 'type:sapi', per_page: 100 });
    assert.ok(writes.data.length >= 5, `every successful write is logged as sapi: ${writes.data.length}`);
    assert.equal(typeof writes.response.total, 'number');

    const dated = await mgmt.logs.list({ search: `type:s AND date:[${new Date(Date.now() - 3600_000).toISOString()} TO *]`, sort: 'date:1' });
    assert.deepEqual(dated.data.map((l) => l.log_id), [logins[1].log_id, logins[0].log_id], 'oldest first with sort=date:1');

    // Checkpoint: `from` a log_id, `take`; the answer is a plain array of the later events.
    const checkpoint = await mgmt.logs.list({}, { queryParams: { from: logins[1].log_id, take: 100 } });
    assert.ok(Array.isArray(checkpoint.response), `a checkpoint answers an array: ${JSON.stringify(checkpoint.response)}`);
    const ids = checkpoint.response.map((l) => BigInt(l.log_id));
    assert.ok(ids.includes(BigInt(logins[0].log_id)));
    assert.ok(ids.every((id) => id > BigInt(logins[1].log_id)));

    await rejects(() => mgmt.logs.list({ search: 'description:anything' }), Management.BadRequestError, 400);
  });

  it('stats: active users is a bare number counting the user who signed in', async () => {
    const n = await mgmt.stats.getActiveUsersCount();
    assert.equal(typeof n, 'number');
    assert.equal(n, 1);
  });

  it('deletes the user, the client and the resource server', async () => {
    await mgmt.users.delete(made.user.user_id);
    await rejects(() => mgmt.users.get(made.user.user_id), Management.NotFoundError, 404, 'inexistent_user');
    await mgmt.clients.delete(made.spa.client_id);
    await rejects(() => mgmt.clients.get(made.spa.client_id), Management.NotFoundError, 404);
    await mgmt.resourceServers.delete(made.api.id);
    await rejects(() => mgmt.resourceServers.get(made.api.id), Management.NotFoundError, 404);
  });

  it('refuses a token without the needed scope (403 insufficient_scope) and a missing token (401)', async () => {
    const bare = await fetch(`${r.url}/api/v2/clients`);
    assert.equal(bare.status, 401);
    const limited = await r.cli('clients', 'create', '--name', 'read-only logs', '--type', 'm2m');
    await r.cli('client-grants', 'create', '--client-id', limited.client_id, '--audience', r.audience, '--scope', 'read:logs');
    const logsOnly = new ManagementClient({ domain: r.host, clientId: limited.client_id, clientSecret: limited.client_secret, fetch: toHttp });
    await logsOnly.logs.list();
    await rejects(() => logsOnly.users.list(), Management.ForbiddenError, 403, 'insufficient_scope');
  });
});

describe('auth0/legacy (node-auth0 v4 API, bundled with 7.1.0) against ratchet serve', () => {
  let r;
  before(async () => {
    r = await startRatchet();
  });
  after(async () => {
    await r?.stop();
  });

  it('gets a token with AuthenticationClient and reads clients as a bare array', async () => {
    const auth = new AuthenticationClient({ domain: r.host, clientId: r.clientId, clientSecret: r.clientSecret, fetch: toHttp });
    const { data } = await auth.oauth.clientCredentialsGrant({ audience: r.audience });
    assert.ok(data.access_token);
    const legacy = new LegacyManagementClient({ domain: r.host, token: data.access_token, fetch: toHttp });
    const clients = await legacy.clients.getAll();
    assert.ok(Array.isArray(clients.data), `legacy getAll expects a bare array: ${JSON.stringify(clients.data)}`);
    assert.ok(clients.data.some((c) => c.client_id === r.clientId));
    // The client-credentials exchange is logged (in the background, within milliseconds).
    let logs;
    for (let i = 0; i < 50; i++) {
      logs = await legacy.logs.getAll({ q: 'type:seccft' });
      assert.ok(Array.isArray(logs.data), `legacy logs.getAll expects a bare array: ${JSON.stringify(logs.data)}`);
      if (logs.data.some((l) => l.client_id === r.clientId)) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(logs.data.some((l) => l.client_id === r.clientId), 'the client-credentials exchange is logged');
  });
});
