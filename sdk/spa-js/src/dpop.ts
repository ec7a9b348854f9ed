import type { Auth0Client } from './client.js';
import type { PostResult } from './http.js';

/**
 * DPoP (RFC 9449) for `useDpop: true`: a non-extractable ES256 key pair from WebCrypto, kept in
 * IndexedDB (one per client id, shared by every tab of the origin and surviving reloads), proofs
 * for token, revoke and API requests, and the server nonces (§8) remembered per origin.
 */

const DB = 'ratchet-spa-js-dpop';
const STORE = 'keys';
const enc = new TextEncoder();
// Own copies of util.ts's helpers: a runtime import of the main bundle's code would make esbuild
// split that code into a third file.
const b64url = (b: Uint8Array): string => btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const randomString = (): string => b64url(crypto.getRandomValues(new Uint8Array(32)));
const json64 = (v: unknown): string => b64url(enc.encode(JSON.stringify(v)));
const sha256 = async (s: string): Promise<string> => b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(s))));

/** One request on the key store, in its own transaction; resolves when the transaction commits. */
function idb<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => {
        db.close();
        resolve(req.result);
      };
      tx.onerror = tx.onabort = (e) => {
        e.preventDefault?.();
        db.close();
        reject(tx.error ?? req.error);
      };
    };
  });
}

interface Key {
  pair: CryptoKeyPair;
  jwk: { crv?: string; kty?: string; x?: string; y?: string };
}

export interface DpopProofParams {
  url: string;
  method: string;
  nonce?: string;
  /** The access token the proof accompanies (adds `ath`). */
  accessToken?: string;
}

export class Dpop {
  private signer?: Promise<Key>;
  private nonces = new Map<string, string>();

  /** `dbKey`: the client id, the key's IndexedDB key; `asOrigin`: the authorization server's origin, the default nonce id. */
  constructor(
    private readonly dbKey: string,
    private readonly asOrigin: string,
  ) {}

  private keyPair(): Promise<Key> {
    return (this.signer ??= this.load().catch((e) => {
      this.signer = undefined;
      throw e;
    }));
  }

  private async load(): Promise<Key> {
    let pair = await idb<CryptoKeyPair | undefined>('readonly', (s) => s.get(this.dbKey));
    if (!pair) {
      const fresh = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as CryptoKeyPair;
      // `add` fails if another tab stored its key first: then everyone uses that one.
      pair = await idb('readwrite', (s) => s.add(fresh, this.dbKey)).then(
        () => fresh,
        () => idb<CryptoKeyPair | undefined>('readonly', (s) => s.get(this.dbKey)),
      );
      if (!pair) throw new Error('DPoP key could not be stored');
    }
    const { crv, kty, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
    // The public key alone (no `key_ops`, `ext`): the proof header's `jwk`.
    return { pair, jwk: { crv, kty, x, y } };
  }

  /** A proof for `method url` (query and fragment dropped from `htu`), with `nonce` and `ath`. */
  async proof(p: DpopProofParams): Promise<string> {
    const { pair, jwk } = await this.keyPair();
    const u = new URL(p.url);
    const claims: Record<string, unknown> = { jti: randomString(), htm: p.method.toUpperCase(), htu: u.origin + u.pathname, iat: Math.floor(Date.now() / 1000) };
    if (p.nonce) claims.nonce = p.nonce;
    if (p.accessToken) claims.ath = await sha256(p.accessToken);
    const input = `${json64({ typ: 'dpop+jwt', alg: 'ES256', jwk })}.${json64(claims)}`;
    // WebCrypto's ECDSA signature is r ‖ s, the JWS encoding (RFC 7518 §3.4).
    const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, enc.encode(input));
    return `${input}.${b64url(new Uint8Array(sig))}`;
  }

  nonceFor(id = this.asOrigin): string | undefined {
    return this.nonces.get(id);
  }

  keepNonce(nonce: string, id = this.asOrigin): void {
    this.nonces.set(id, nonce);
  }

  /**
   * Sends a POST to the authorization server with a fresh proof; remembers the `DPoP-Nonce` it
   * answers with and, on `use_dpop_nonce`, retries once with that nonce (RFC 9449 §8).
   */
  async withProof(url: string, send: (proof: string) => Promise<PostResult>): Promise<PostResult> {
    const id = new URL(url).origin;
    let r = await send(await this.proof({ url, method: 'POST', nonce: this.nonceFor(id) }));
    if (r.nonce) this.keepNonce(r.nonce, id);
    if (r.json.error === 'use_dpop_nonce' && r.nonce) r = await send(await this.proof({ url, method: 'POST', nonce: r.nonce }));
    if (r.nonce) this.keepNonce(r.nonce, id);
    return r;
  }

  /** Proofs for revoking what the token worker holds: a refresh token per audience and scope at most. */
  revokeProofs(url: string): Promise<string[]> {
    return Promise.all([0, 1, 2, 3].map(() => this.proof({ url, method: 'POST', nonce: this.nonceFor() })));
  }

  /** Forgets the key (in every tab) and the nonces: what was bound to it is useless from now on. */
  async clear(): Promise<void> {
    this.signer = undefined;
    this.nonces.clear();
    await idb('readwrite', (s) => s.delete(this.dbKey));
  }
}

/** What the access-token source of a {@link Fetcher} may return. */
export type FetcherToken = string | { access_token: string; token_type?: string } | undefined;

export interface FetcherConfig {
  /** Default: the client's `getTokenSilently` (with `audience`/`scope` from the call). */
  getAccessToken?: (authParams?: { audience?: string; scope?: string[] }) => Promise<FetcherToken>;
  /** Resolves relative URLs. */
  baseUrl?: string;
  fetch?: (request: Request) => Promise<Response>;
  /** Which remembered nonce to use (default: the request's origin). */
  dpopNonceId?: string;
}

/**
 * Calls an API with the access token: `Authorization: DPoP <token>` and a proof with `ath` when
 * the token is DPoP-bound, `Bearer` otherwise; a `401` whose challenge says `use_dpop_nonce` is
 * retried once with the nonce the API sent.
 */
export class Fetcher {
  constructor(
    private readonly config: FetcherConfig & { getAccessToken: NonNullable<FetcherConfig['getAccessToken']> },
    private readonly dpopKey?: Dpop,
  ) {}

  async fetchWithAuth(info: RequestInfo | URL, init?: RequestInit, authParams?: { audience?: string; scope?: string[] }): Promise<Response> {
    const c = this.config;
    const url = info instanceof Request ? info.url : new URL(String(info), c.baseUrl ?? location.href).href;
    const id = c.dpopNonceId ?? new URL(url).origin;
    const attempt = async (): Promise<Response> => {
      const req = new Request(info instanceof Request ? info : url, init);
      const t = await c.getAccessToken(authParams);
      const at = typeof t === 'string' ? t : t?.access_token;
      if (!at) throw new Error('No access token');
      const dpop = this.dpopKey && (typeof t === 'string' || /^dpop$/i.test(t?.token_type ?? '')) ? this.dpopKey : undefined;
      req.headers.set('authorization', `${dpop ? 'DPoP' : 'Bearer'} ${at}`);
      if (dpop) req.headers.set('dpop', await dpop.proof({ url, method: req.method, nonce: dpop.nonceFor(id), accessToken: at }));
      const res = await (c.fetch ?? fetch)(req);
      const nonce = res.headers.get('dpop-nonce');
      if (nonce) this.dpopKey?.keepNonce(nonce, id);
      return res;
    };
    const res = await attempt();
    const useNonce = res.status === 401 && /use_dpop_nonce/.test(res.headers.get('www-authenticate') ?? '');
    return useNonce && this.dpopKey ? attempt() : res;
  }
}

/** `createFetcher` of `client`: by default with its `getTokenSilently`, with its DPoP key if any. */
export async function fetcher(client: Auth0Client, config: FetcherConfig, dpop?: Promise<Dpop>): Promise<Fetcher> {
  const getAccessToken =
    config.getAccessToken ??
    ((a?: { audience?: string; scope?: string[] }) =>
      client.getTokenSilently({
        detailedResponse: true,
        // Only what the call names: the client's audience and scope apply otherwise.
        authorizationParams: { ...(a?.audience && { audience: a.audience }), ...(a?.scope && { scope: a.scope.join(' ') }) },
      }));
  return new Fetcher({ ...config, getAccessToken }, await dpop);
}
