import assert from 'node:assert/strict';
import { test } from 'node:test';
import { b64url, b64urlDecode, pkceChallenge, randomString, toQuery, uniqueScopes } from '../../src/util.js';

test('PKCE S256 challenge matches RFC 7636 Appendix B', async () => {
  assert.equal(await pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
});

test('randomString: 43 unreserved chars, 256 bits, no repeats', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const s = randomString();
    assert.match(s, /^[A-Za-z0-9_-]{43}$/);
    seen.add(s);
  }
  assert.equal(seen.size, 200);
});

test('base64url round trip, no padding, URL-safe alphabet', () => {
  const bytes = new Uint8Array([0xfb, 0xff, 0xfe, 0x00, 0x3e]);
  const s = b64url(bytes);
  assert.equal(s, '-__-AD4');
  assert.equal(b64urlDecode(b64url(new TextEncoder().encode('héllo {"a":1}'))), 'héllo {"a":1}');
});

test('uniqueScopes merges and de-duplicates in order', () => {
  assert.equal(uniqueScopes('openid', 'openid profile  email', undefined, 'offline_access profile'), 'openid profile email offline_access');
  assert.equal(uniqueScopes(), '');
});

test('toQuery drops undefined and null', () => {
  assert.equal(toQuery({ a: 'x y', b: undefined, c: null, d: 0, e: 'a+b=/' }), 'a=x+y&d=0&e=a%2Bb%3D%2F');
});
