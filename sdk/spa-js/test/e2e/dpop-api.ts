/**
 * A test API (resource server) that accepts only DPoP-bound access tokens (RFC 9449 §7): it
 * verifies the access token (RS256 under ratchet's JWKS, audience, expiry), the proof (ES256
 * signature with the header's jwk, typ, htm, htu, iat, jti not seen before, ath) and that the
 * token's `cnf.jkt` is the proof key's RFC 7638 thumbprint. With `requireNonce` it first answers
 * `401 use_dpop_nonce` with a `DPoP-Nonce`, as RFC 9449 §9 describes.
 */
import { createHash, createPublicKey, randomBytes, verify, type JsonWebKey } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ApiCall {
  ok: boolean;
  reason?: string;
  jkt?: string;
  sub?: string;
  nonce?: string;
}

export interface DpopApi {
  url: string;
  calls: ApiCall[];
  stop(): Promise<void>;
}

const b64u = (b: Buffer): string => b.toString('base64url');
const part = (s: string | undefined): Record<string, unknown> => JSON.parse(Buffer.from(s ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;

export function thumbprint(jwk: Record<string, unknown>): string {
  const input = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return b64u(createHash('sha256').update(input).digest());
}

export async function startDpopApi(opts: { issuer: string; audience: string; spaOrigin: string; requireNonce?: boolean }): Promise<DpopApi> {
  const jwks = (await (await fetch(`${opts.issuer}/.well-known/jwks.json`, { signal: AbortSignal.timeout(5000) })).json()) as { keys: JsonWebKey[] };
  const seen = new Set<string>();
  const nonce = b64u(randomBytes(16));
  const api: DpopApi = { url: '', calls: [], stop: async () => undefined };

  const check = (req: IncomingMessage): ApiCall => {
    const auth = req.headers.authorization ?? '';
    if (!/^DPoP /.test(auth)) return { ok: false, reason: 'authorization scheme is not DPoP' };
    const at = auth.slice(5).trim();
    const proof = req.headers.dpop;
    if (typeof proof !== 'string') return { ok: false, reason: 'no single DPoP header' };
    const [h, p, s] = proof.split('.');
    const header = part(h);
    const claims = part(p);
    if (header.typ !== 'dpop+jwt' || header.alg !== 'ES256') return { ok: false, reason: 'typ/alg' };
    const jwk = header.jwk as Record<string, unknown>;
    if ('d' in jwk) return { ok: false, reason: 'private key in proof' };
    const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    if (!verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s ?? '', 'base64url'))) {
      return { ok: false, reason: 'proof signature' };
    }
    if (claims.htm !== req.method) return { ok: false, reason: 'htm' };
    if (claims.htu !== `${api.url}${new URL(req.url ?? '/', api.url).pathname}`) return { ok: false, reason: `htu ${String(claims.htu)}` };
    if (Math.abs(Number(claims.iat) - Date.now() / 1000) > 60) return { ok: false, reason: 'iat' };
    if (typeof claims.jti !== 'string' || seen.has(claims.jti)) return { ok: false, reason: 'jti replayed' };
    if (claims.ath !== b64u(createHash('sha256').update(at).digest())) return { ok: false, reason: 'ath' };
    // The access token: ratchet's signature, our audience, not expired, bound to the proof's key.
    const [th, tp, ts] = at.split('.');
    const tHeader = part(th);
    const tClaims = part(tp);
    const signer = jwks.keys.find((k) => (k as { kid?: string }).kid === tHeader.kid);
    if (!signer || !verify('RSA-SHA256', Buffer.from(`${th}.${tp}`), createPublicKey({ key: signer, format: 'jwk' }), Buffer.from(ts ?? '', 'base64url'))) {
      return { ok: false, reason: 'access token signature' };
    }
    const aud = tClaims.aud;
    if (!(Array.isArray(aud) ? aud.includes(opts.audience) : aud === opts.audience)) return { ok: false, reason: 'audience' };
    if (!(Number(tClaims.exp) > Date.now() / 1000)) return { ok: false, reason: 'expired' };
    const jkt = thumbprint(jwk);
    if ((tClaims.cnf as { jkt?: string } | undefined)?.jkt !== jkt) return { ok: false, reason: 'cnf.jkt does not match the proof key' };
    if (opts.requireNonce && claims.nonce !== nonce) return { ok: false, reason: 'use_dpop_nonce', jkt };
    seen.add(claims.jti);
    return { ok: true, jkt, sub: String(tClaims.sub), nonce: claims.nonce as string | undefined };
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const cors = {
      'Access-Control-Allow-Origin': opts.spaOrigin,
      'Access-Control-Allow-Headers': 'authorization, dpop, content-type',
      'Access-Control-Expose-Headers': 'DPoP-Nonce, WWW-Authenticate',
      'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors);
      return res.end();
    }
    let call: ApiCall;
    try {
      call = check(req);
    } catch (e) {
      call = { ok: false, reason: `malformed: ${String(e)}` };
    }
    api.calls.push(call);
    if (call.ok) {
      res.writeHead(200, { ...cors, 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ ok: true, sub: call.sub, jkt: call.jkt }));
    }
    const error = call.reason === 'use_dpop_nonce' ? 'use_dpop_nonce' : 'invalid_token';
    res.writeHead(401, {
      ...cors,
      'Content-Type': 'application/json',
      'WWW-Authenticate': `DPoP error="${error}", algs="ES256"`,
      ...(opts.requireNonce && { 'DPoP-Nonce': nonce }),
    });
    return res.end(JSON.stringify({ error, reason: call.reason }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  api.stop = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return api;
}
