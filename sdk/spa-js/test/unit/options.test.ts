import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorFromBody, GenericError, MissingRefreshTokenError, TimeoutError } from '../../src/errors.js';
import { domainToUrl, expectedIssuer, normalizeOptions, resolveScope } from '../../src/options.js';

const ORIGIN = 'http://127.0.0.1:5173';

test('domain: https assumed without scheme, http kept, trailing slashes removed', () => {
  assert.equal(domainToUrl('tenant.example.com'), 'https://tenant.example.com');
  assert.equal(domainToUrl('http://127.0.0.1:3000'), 'http://127.0.0.1:3000');
  assert.equal(domainToUrl('http://127.0.0.1:3000/'), 'http://127.0.0.1:3000');
  assert.equal(domainToUrl(' HTTPS://a.b/tenant1// '), 'HTTPS://a.b/tenant1');
});

test('issuer: <domain>/ by default; explicit http issuers accepted verbatim', () => {
  assert.equal(expectedIssuer('http://127.0.0.1:3000'), 'http://127.0.0.1:3000/');
  assert.equal(expectedIssuer('https://x', 'http://127.0.0.1:3000/'), 'http://127.0.0.1:3000/');
  assert.equal(expectedIssuer('https://x', 'login.example.com'), 'https://login.example.com/');
});

test('defaults: redirect_uri = origin, scope openid profile email, memory cache', () => {
  const o = normalizeOptions({ domain: '127.0.0.1:3000', clientId: 'cid' }, ORIGIN);
  assert.equal(o.domainUrl, 'https://127.0.0.1:3000');
  assert.equal(o.issuer, 'https://127.0.0.1:3000/');
  assert.equal(o.clientId, 'cid');
  assert.equal(o.authorizationParams.redirect_uri, ORIGIN);
  assert.equal(o.authorizationParams.scope, 'openid profile email');
  assert.equal(o.cacheLocation, 'memory');
  assert.equal(o.useRefreshTokens, false);
  assert.equal(o.useRefreshTokensFallback, false);
  assert.equal(o.authorizeTimeoutInSeconds, 60);
  assert.equal(o.leeway, 60);
});

test('v1 spellings: client_id and top-level redirect_uri / audience / scope', () => {
  const o = normalizeOptions(
    { domain: 'http://127.0.0.1:3000', client_id: 'v1', redirect_uri: `${ORIGIN}/cb`, audience: 'https://api', scope: 'read:x', cacheLocation: 'localstorage', useRefreshTokens: true },
    ORIGIN,
  );
  assert.equal(o.clientId, 'v1');
  assert.equal(o.authorizationParams.redirect_uri, `${ORIGIN}/cb`);
  assert.equal(o.authorizationParams.audience, 'https://api');
  assert.equal(o.authorizationParams.scope, 'openid read:x offline_access');
  assert.equal(o.cacheLocation, 'localstorage');
});

test('v2 authorizationParams win over v1 top-level spellings', () => {
  const o = normalizeOptions({ domain: 'd', clientId: 'a', client_id: 'b', audience: 'v1', authorizationParams: { audience: 'v2', max_age: 30 } }, ORIGIN);
  assert.equal(o.clientId, 'a');
  assert.equal(o.authorizationParams.audience, 'v2');
  assert.equal(o.authorizationParams.max_age, 30);
});

test('useRefreshTokens adds offline_access; scopes merge', () => {
  assert.equal(resolveScope(true), 'openid profile email offline_access');
  assert.equal(resolveScope(false, 'email'), 'openid email');
  assert.equal(resolveScope(true, 'openid profile', 'read:a profile'), 'openid profile read:a offline_access');
});

test('invalid options throw', () => {
  assert.throws(() => normalizeOptions({ domain: '', clientId: 'x' }, ORIGIN), TypeError);
  assert.throws(() => normalizeOptions({ domain: 'd' }, ORIGIN), TypeError);
  assert.throws(() => normalizeOptions({ domain: 'd', clientId: 'x', cacheLocation: 'cookie' as 'memory' }, ORIGIN), /Invalid cache location/);
  assert.equal(normalizeOptions({ domain: 'd', clientId: 'x', leeway: -1, authorizeTimeoutInSeconds: 5 }, ORIGIN).leeway, 60);
});

test('token endpoint errors map to classes by error code, not description', () => {
  const e = errorFromBody({ error: 'invalid_grant', error_description: 'Unknown or invalid refresh token.' }, 'x');
  assert.ok(e instanceof GenericError);
  assert.equal(e.error, 'invalid_grant');
  assert.equal(e.message, 'Unknown or invalid refresh token.');
  assert.ok(errorFromBody({ error: 'missing_refresh_token' }, 'x') instanceof MissingRefreshTokenError);
  assert.ok(errorFromBody({ error: 'timeout' }, 'x') instanceof TimeoutError);
  const r = errorFromBody({}, 'HTTP error 500');
  assert.equal(r.error, 'request_error');
  assert.equal(r.error_description, 'HTTP error 500');
});
