import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GenericError } from '../../src/errors.js';
import { decodeJwt, verifyIdToken } from '../../src/jwt.js';
import { b64url } from '../../src/util.js';

const enc = (o: unknown): string => b64url(new TextEncoder().encode(JSON.stringify(o)));
const jwt = (claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'RS256', typ: 'JWT' }): string => `${enc(header)}.${enc(claims)}.c2ln`;

const NOW = 1_700_000_000;
const ISS = 'http://127.0.0.1:3000/';
const base = { iss: ISS, sub: 'auth0|u1', aud: 'cid', exp: NOW + 3600, iat: NOW, nonce: 'n1', auth_time: NOW - 10, name: 'Ada', email: 'ada@example.com', sid: 's1' };
const opts = { iss: ISS, aud: 'cid', nonce: 'n1', leeway: 60, now: NOW };

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof GenericError, 'GenericError expected');
    return `${e.error}: ${e.error_description}`;
  }
  return 'ok';
};

test('valid token: claims and user (protocol claims removed)', () => {
  const { claims, user } = verifyIdToken({ ...opts, id_token: jwt(base) });
  assert.equal(claims.sub, 'auth0|u1');
  assert.deepEqual(user, { sub: 'auth0|u1', name: 'Ada', email: 'ada@example.com' });
});

test('iss must equal the expected issuer exactly (trailing slash)', () => {
  assert.match(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, iss: 'http://127.0.0.1:3000' }) })), /^invalid_id_token: Issuer/);
  assert.match(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, iss: undefined }) })), /^invalid_id_token: Issuer/);
});

test('aud string or array; array with several audiences needs azp', () => {
  assert.equal(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, aud: ['cid'] }) })), 'ok');
  assert.match(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, aud: 'other' }) })), /Audience/);
  assert.match(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, aud: ['other', 'x'] }) })), /Audience/);
  assert.match(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, aud: ['cid', 'api'] }) })), /azp/);
  assert.equal(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, aud: ['cid', 'api'], azp: 'cid' }) })), 'ok');
  assert.match(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, azp: 'evil' }) })), /azp/);
});

test('nonce checked when expected, ignored on refresh', () => {
  assert.match(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, nonce: 'n2' }) })), /Nonce/);
  assert.match(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, nonce: undefined }) })), /Nonce/);
  assert.equal(code(() => verifyIdToken({ ...opts, nonce: undefined, id_token: jwt({ ...base, nonce: undefined }) })), 'ok');
});

test('exp with leeway', () => {
  assert.equal(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, exp: NOW - 60 }) })), 'ok');
  assert.match(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, exp: NOW - 61 }) })), /Expiration/);
  assert.match(code(() => verifyIdToken({ ...opts, leeway: 0, id_token: jwt({ ...base, exp: NOW - 1 }) })), /Expiration/);
  assert.match(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, exp: String(NOW + 10) }) })), /Expiration/);
});

test('iat required, not in the future beyond leeway', () => {
  assert.match(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, iat: undefined }) })), /Issued At/);
  assert.equal(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, iat: NOW + 60 }) })), 'ok');
  assert.match(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, iat: NOW + 61 }) })), /Issued At/);
});

test('nbf with leeway', () => {
  assert.equal(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, nbf: NOW + 60 }) })), 'ok');
  assert.match(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, nbf: NOW + 61 }) })), /Not Before/);
});

test('auth_time with max_age', () => {
  assert.equal(code(() => verifyIdToken({ ...opts, max_age: 100, id_token: jwt(base) })), 'ok');
  assert.equal(code(() => verifyIdToken({ ...opts, max_age: '0', id_token: jwt({ ...base, auth_time: NOW - 60 }) })), 'ok');
  assert.match(code(() => verifyIdToken({ ...opts, max_age: 0, id_token: jwt({ ...base, auth_time: NOW - 61 }) })), /auth_time/);
  assert.match(code(() => verifyIdToken({ ...opts, max_age: 100, id_token: jwt({ ...base, auth_time: undefined }) })), /auth_time/);
  assert.equal(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, auth_time: undefined }) })), 'ok');
});

test('sub required, alg none and garbage rejected', () => {
  assert.match(code(() => verifyIdToken({ ...opts, id_token: jwt({ ...base, sub: '' }) })), /Subject/);
  assert.match(code(() => verifyIdToken({ ...opts, id_token: jwt(base, { alg: 'none' }) })), /signed/);
  assert.match(code(() => verifyIdToken({ ...opts, id_token: 'a.b' })), /decoded/);
  assert.match(code(() => verifyIdToken({ ...opts, id_token: 'e30.bm90IGpzb24.c2ln' })), /decoded/);
});

test('decodeJwt accepts unpadded base64url', () => {
  const { claims } = decodeJwt(jwt({ ...base, name: 'ÿþ?>' }));
  assert.equal(claims.name, 'ÿþ?>');
});
