import {
  AUTH0_PREFIX,
  audienceKey,
  clientPrefix,
  entryKey,
  findEntry,
  fromAuth0,
  isExpired,
  LocalStore,
  markerKey,
  userKey,
  type Store,
  type TokenEntry,
  type UserRecord,
  type WrappedCacheEntry,
} from './cache.js';
import { AuthenticationError, errorFromBody, GenericError, MissingRefreshTokenError, MissingScopesError, PopupOpenError } from './errors.js';
import type { Dpop, DpopProofParams, Fetcher, FetcherConfig } from './dpop.js';
import { runIframe, runPopup, type AuthorizationResponse } from './frame.js';
import { postForm, tokenResult, type PostResult, type TokenResponse } from './http.js';
import { verifyIdToken, type IdTokenClaims, type User } from './jwt.js';
import { withLock } from './lock.js';
import { normalizeOptions, positive, resolveScope, type Auth0ClientOptions, type AuthorizationParams, type NormalizedOptions } from './options.js';
import { pkceChallenge, randomString, toQuery, warn } from './util.js';
import { CacheVault, Vault, type TokenVault } from './vault.js';
import { TokenWorker } from './worker.js';

export interface RedirectLoginOptions<TAppState = unknown> {
  authorizationParams?: AuthorizationParams;
  appState?: TAppState;
  fragment?: string;
  /** Replaces `window.location.assign(url)`. */
  openUrl?: (url: string) => Promise<void> | void;
  /** @deprecated Auth0 SDK spelling of `openUrl` (honoured when `openUrl` is not given). */
  onRedirect?: (url: string) => Promise<void>;
}

export interface RedirectLoginResult<TAppState = unknown> {
  appState?: TAppState;
  response_type: 'code';
}

export interface GetTokenWithPopupOptions extends PopupLoginOptions {
  cacheMode?: 'on' | 'off' | 'cache-only';
}

export interface RevokeRefreshTokenOptions {
  /** Default: the client's `authorizationParams.audience`. */
  audience?: string;
}

export interface ClientConfiguration {
  domain: string;
  clientId: string;
}

export interface PopupLoginOptions {
  authorizationParams?: AuthorizationParams;
}

export interface PopupConfigOptions {
  popup?: Window;
  timeoutInSeconds?: number;
  /** Close the popup when done (default true). */
  closePopup?: boolean;
}

export interface GetTokenSilentlyOptions {
  cacheMode?: 'on' | 'off' | 'cache-only';
  authorizationParams?: AuthorizationParams;
  /** Silent-auth iframe timeout for this call. */
  timeoutInSeconds?: number;
  detailedResponse?: boolean;
}

export interface GetTokenSilentlyVerboseResponse {
  access_token: string;
  id_token?: string;
  token_type: string;
  /** Seconds left at the time of the call (not the original lifetime). */
  expires_in: number;
  /** Unix seconds at which the server says the access token expires. */
  expires_at: number;
  scope?: string;
}

export interface LogoutOptions {
  clientId?: string | null;
  logoutParams?: { returnTo?: string; federated?: boolean; [key: string]: unknown };
  /** `false`: local logout only. A function replaces `window.location.assign(url)`. */
  openUrl?: false | ((url: string) => Promise<void> | void);
  /** @deprecated Auth0 SDK spelling of `openUrl`. */
  onRedirect?: (url: string) => Promise<void>;
}

/** `detail` of the `expiring` event: an access token is about to expire. */
export interface ExpiringEventDetail {
  audience: string;
  scope: string;
  /** Unix seconds. */
  expiresAt: number;
}

export interface ClientEvents {
  token: TokenEventDetail;
  expiring: ExpiringEventDetail;
  clear: undefined;
  error: unknown;
}

/** `detail` of the `token` event, fired for every token obtained in this tab or broadcast by another. */
export interface TokenEventDetail {
  grant: 'authorization_code' | 'refresh_token';
  /** A refresh response carried a new refresh token (rotation). */
  rotated: boolean;
  audience: string;
  scope: string;
  /** Unix seconds. */
  expiresAt: number;
  /** Milliseconds. */
  obtainedAt: number;
  /** Obtained by another tab. */
  remote: boolean;
}

interface Transaction {
  state: string;
  nonce: string;
  code_verifier: string;
  redirect_uri: string;
  audience?: string;
  scope: string;
  max_age?: number | string;
  appState?: unknown;
}

type Params = AuthorizationParams & { redirect_uri: string; scope: string };

type Broadcast =
  | { t: 'set'; key: string; entry: TokenEntry; user?: UserRecord; info: TokenEventDetail }
  | { t: 'clear'; at: number };

/**
 * Auth0 SPA SDK v2 compatible client. Also an `EventTarget` (see {@link ClientEvents} and `on`):
 * `token` (a token was obtained, here or in another tab), `expiring` (an access token expires
 * soon), `clear` (the session was cleared, here or in another tab) and `error` (a background
 * renewal failed).
 */
export class Auth0Client extends EventTarget {
  private readonly options: Readonly<NormalizedOptions>;
  private store: Store;
  /**
   * The authoritative store of refresh tokens and entries: IndexedDB (localstorage mode; this
   * tab's memory if IndexedDB cannot be opened) or the application's `cache`.
   */
  private vault?: TokenVault;
  /** Holds refresh tokens off the main thread (memory mode + useRefreshTokens). */
  private worker?: TokenWorker;
  private channel?: BroadcastChannel;
  /** DPoP key and nonces (`useDpop`). */
  private dp?: Promise<Dpop>;
  private prefix: string;
  /** Store keys of the user and of the "was signed in" marker. */
  private uKey: string;
  private mKey: string;
  private txKey: string;
  /** Migration and loading of a custom cache; every public method but the popups waits for it. */
  private ready: Promise<void>;
  private timers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(options: Auth0ClientOptions) {
    super();
    if (!globalThis.crypto?.subtle) {
      throw new GenericError('insecure_origin', 'not a secure origin (no crypto.subtle)');
    }
    const o = (this.options = normalizeOptions(options, location.origin));
    this.prefix = clientPrefix(o.clientId);
    this.uKey = userKey(o.clientId);
    this.mKey = markerKey(o.clientId);
    this.txKey = `ratchet.spajs.txs.${o.clientId}`;
    if (o.cache) {
      this.store = new LocalStore();
      this.vault = new CacheVault(o.cache, this.prefix);
    } else if (o.cacheLocation === 'localstorage') {
      this.store = new LocalStore(localStorage);
      this.vault = new Vault(this.prefix);
    } else {
      this.store = new LocalStore();
      if (o.useRefreshTokens && typeof Worker === 'function') {
        try {
          this.worker = new TokenWorker(o.domainUrl, o.workerUrl);
        } catch {
          this.noWorker();
        }
      }
    }
    // In every mode, so that a sign-out reaches every tab.
    if (typeof BroadcastChannel === 'function') {
      this.channel = new BroadcastChannel(`${this.prefix}channel`);
      this.channel.onmessage = (e: MessageEvent<Broadcast>) => void this.onBroadcast(e.data);
    }
    // The DPoP code is a chunk of its own, loaded only with `useDpop`.
    if (o.useDpop) this.dp = import('./dpop.js').then((m) => new m.Dpop(o.clientId, this.serverOrigin()));
    this.ready = this.init().catch((e) => warn(`start-up: ${String((e as Error)?.message ?? e)}`));
  }

  // ---------------------------------------------------------------- public API

  /** Subscribes to a client event; returns the function that unsubscribes. */
  on<K extends keyof ClientEvents>(type: K, fn: (detail: ClientEvents[K]) => void): () => void {
    const l = (e: Event): void => fn((e as CustomEvent).detail);
    this.addEventListener(type, l);
    return () => this.removeEventListener(type, l);
  }

  getConfiguration(): Readonly<ClientConfiguration> {
    return { domain: this.options.domain, clientId: this.options.clientId };
  }

  async loginWithRedirect<TAppState = unknown>(opts: RedirectLoginOptions<TAppState> = {}): Promise<void> {
    const { url, tx } = await this.authorizeUrl(this.params(opts.authorizationParams), 'query');
    this.txStore(JSON.stringify({ ...tx, appState: opts.appState }));
    const full = opts.fragment ? `${url}#${opts.fragment}` : url;
    const openUrl = opts.openUrl ?? opts.onRedirect;
    if (openUrl) await openUrl(full);
    else location.assign(full);
  }

  async handleRedirectCallback<TAppState = unknown>(url: string = location.href): Promise<RedirectLoginResult<TAppState>> {
    await this.ready;
    const { search } = new URL(url, location.href);
    if (!search) throw new GenericError('invalid_request', 'There are no query params available for parsing.');
    const r: AuthorizationResponse = Object.fromEntries(new URLSearchParams(search));
    const raw = this.txStore();
    if (!raw) throw new GenericError('missing_transaction', 'Invalid state');
    this.txStore(null);
    const tx = JSON.parse(raw) as Transaction;
    if (r.error) throw new AuthenticationError(r.error, r.error_description ?? r.error, r.state, tx.appState);
    await this.finishCodeFlow(r, tx, true);
    return { appState: tx.appState as TAppState, response_type: 'code' };
  }

  async loginWithPopup(opts: PopupLoginOptions = {}, config: PopupConfigOptions = {}): Promise<void> {
    // Open synchronously, inside the user gesture, before any await.
    const popup =
      config.popup ??
      open('', 'ratchet:authorize:popup', `left=${screenX + (innerWidth - 400) / 2},top=${screenY + (innerHeight - 600) / 2},width=400,height=600,resizable,scrollbars=yes,status=1`);
    if (!popup) throw new PopupOpenError();
    const { url, tx } = await this.authorizeUrl(this.params(opts.authorizationParams), 'web_message');
    const r = await runPopup(popup, url, this.serverOrigin(), positive(config.timeoutInSeconds, this.options.authorizeTimeoutInSeconds), config.closePopup !== false);
    await this.ready;
    await this.finishCodeFlow(r, tx, true);
  }

  /** Signs in (or consents) in a popup and returns the access token for its audience and scope. */
  async getTokenWithPopup(opts: GetTokenWithPopupOptions = {}, config: PopupConfigOptions = {}): Promise<string | undefined> {
    const p = this.params(opts.authorizationParams);
    if (opts.cacheMode !== 'cache-only') await this.loginWithPopup({ authorizationParams: p }, config);
    return findEntry(this.cached(), p.audience, p.scope)?.access_token;
  }

  getTokenSilently(opts: GetTokenSilentlyOptions & { detailedResponse: true }): Promise<GetTokenSilentlyVerboseResponse>;
  getTokenSilently(opts?: GetTokenSilentlyOptions): Promise<string>;
  async getTokenSilently(opts: GetTokenSilentlyOptions = {}): Promise<string | GetTokenSilentlyVerboseResponse | undefined> {
    await this.ready;
    const mode = opts.cacheMode ?? 'on';
    const p = this.params(opts.authorizationParams);
    const start = Date.now();
    const now = await this.nowSec();
    const out = (e: TokenEntry): string | GetTokenSilentlyVerboseResponse => (opts.detailedResponse ? this.detailed(e, now) : e.access_token);
    if (mode !== 'off') {
      const hit = findEntry(this.cached(), p.audience, p.scope);
      if (hit?.access_token && !isExpired(hit, now)) return out(hit);
      if (mode === 'cache-only') return undefined;
    }
    const entry = await this.lock(async () => {
      // Authoritative re-read under the lock (IndexedDB in localstorage mode, never localStorage).
      const all = await this.authoritative();
      const v = findEntry(all, p.audience, p.scope);
      // A result obtained after this call started (e.g. by another tab that held the lock) is
      // fresh by definition: use it instead of refreshing again. Strictly after: one obtained in
      // the millisecond this call started may be the very result `cacheMode: 'off'` must replace.
      if (v?.access_token && (v.obtainedAt > start || (mode !== 'off' && !isExpired(v, await this.nowSec())))) {
        if (this.vault) this.store.set(this.keyOf(v), strip(v));
        return v;
      }
      return this.options.useRefreshTokens ? this.refresh(p, v, all, opts.timeoutInSeconds) : this.silent(p, opts.timeoutInSeconds);
    }, p.audience);
    return out(entry);
  }

  async getUser<TUser extends User = User>(): Promise<TUser | undefined> {
    await this.ready;
    return this.store.get<UserRecord>(this.uKey)?.user as TUser | undefined;
  }

  async getIdTokenClaims(): Promise<(IdTokenClaims & { __raw: string }) | undefined> {
    await this.ready;
    const u = this.store.get<UserRecord>(this.uKey);
    return u ? { ...u.claims, __raw: u.id_token } : undefined;
  }

  /**
   * Revokes (RFC 7009) the refresh token stored for `audience` (default: the client's) and
   * forgets it; with multi-resource refresh tokens that is the one token of every API. Access
   * tokens stay cached until they expire. Does nothing without `useRefreshTokens`.
   */
  async revokeRefreshToken(opts: RevokeRefreshTokenOptions = {}): Promise<void> {
    await this.ready;
    const aud = opts.audience ?? this.options.authorizationParams.audience;
    if (this.options.useRefreshTokens) await this.lock(() => this.revoke(audienceKey(aud), this.options.httpTimeoutInSeconds), aud);
  }

  async isAuthenticated(): Promise<boolean> {
    return !!(await this.getUser());
  }

  /** Tries to restore a session silently if this browser was signed in; never throws. */
  async checkSession(opts?: GetTokenSilentlyOptions): Promise<void> {
    await this.ready;
    if (!this.hasMarker()) return;
    try {
      await this.getTokenSilently(opts);
    } catch {
      // like Auth0: errors are swallowed; invalid_grant / login_required already cleared the session
    }
  }

  /**
   * Clears the local session (all tabs), revokes the stored refresh tokens (best effort, bounded)
   * and, unless `openUrl: false`, navigates to `/v2/logout`.
   */
  async logout(opts: LogoutOptions = {}): Promise<void> {
    await this.ready;
    // Names the session to end, so the server need not ask the user to confirm (OIDC RP-Initiated Logout §2).
    const id_token_hint = this.store.get<UserRecord>(this.uKey)?.id_token;
    await this.lock(() => this.revoke(undefined, Math.min(this.options.httpTimeoutInSeconds, 5))).catch(() => undefined);
    await this.clearSession();
    await this.dp?.then((d) => d.clear()).catch(() => undefined);
    const openUrl = opts.openUrl ?? opts.onRedirect;
    if (openUrl === false) return;
    const { federated, ...rest } = opts.logoutParams ?? {};
    // `clientId: null`: no client_id (toQuery drops null).
    const client_id = opts.clientId === undefined ? this.options.clientId : opts.clientId;
    const url = `${this.options.domainUrl}/v2/logout?${toQuery({ client_id, id_token_hint, ...rest })}${federated ? '&federated' : ''}`;
    if (openUrl) await openUrl(url);
    else location.assign(url);
  }

  // ---------------------------------------------------------------- DPoP (useDpop)

  /** The DPoP nonce remembered for `id` (default: the authorization server's origin). */
  async getDpopNonce(id?: string): Promise<string | undefined> {
    return (await this.needDpop()).nonceFor(id);
  }

  async setDpopNonce(nonce: string, id?: string): Promise<void> {
    (await this.needDpop()).keepNonce(nonce, id);
  }

  /** A DPoP proof by this browser's key, e.g. for an API call with `accessToken`. */
  async generateDpopProof(params: DpopProofParams & { accessToken: string }): Promise<string> {
    return (await this.needDpop()).proof(params);
  }

  /**
   * A fetcher that calls APIs with this client's access token (and DPoP proofs with `useDpop`).
   * Its code is in the DPoP chunk, loaded on the first call.
   */
  createFetcher(config: FetcherConfig = {}): Pick<Fetcher, 'fetchWithAuth'> {
    let f: Promise<Fetcher> | undefined;
    return { fetchWithAuth: async (...a) => (await (f ??= import('./dpop.js').then((m) => m.fetcher(this, config, this.dp)))).fetchWithAuth(...a) };
  }

  /**
   * POSTs `body` to the authorization server's `url` — through the token worker with `msg` — with
   * DPoP proofs and nonces under `useDpop`.
   */
  private async post(url: string, body: Record<string, string>, timeout: number, msg?: Record<string, unknown>): Promise<PostResult> {
    const json = !this.options.useFormData;
    const send = (dpop?: string): Promise<PostResult> => (msg ? this.worker!.ask({ ...msg, body, timeout, json, dpop }, timeout + 1000) : postForm(url, body, timeout, json, dpop));
    const d = await this.dp;
    return d ? d.withProof(url, send) : send();
  }

  private needDpop(): Promise<Dpop> {
    if (!this.dp) throw new GenericError('dpop_not_enabled', '`useDpop` option must be enabled');
    return this.dp;
  }

  // ---------------------------------------------------------------- flows

  private params(extra?: AuthorizationParams): Params {
    const o = this.options;
    const base = o.authorizationParams;
    const audience = extra?.audience ?? base.audience;
    return { ...base, ...extra, redirect_uri: extra?.redirect_uri ?? base.redirect_uri, scope: resolveScope(o.useRefreshTokens, o.scopes ?? base.scope, extra?.scope, audience) };
  }

  private serverOrigin(): string {
    return new URL(this.options.domainUrl).origin;
  }

  private async nowSec(): Promise<number> {
    return Math.floor((await this.options.nowProvider()) / 1000);
  }

  /**
   * The cross-tab lock. One per audience, since each audience has its own refresh token; one for
   * the whole client with multi-resource refresh tokens, where every API shares one.
   */
  private lock<T>(fn: () => Promise<T>, audience?: string): Promise<T> {
    const o = this.options;
    // Bounded: a holder may run an iframe (authorize timeout) and a token request (http timeout).
    return withLock(`${this.prefix}lock${o.useMrrt ? '' : `::${audienceKey(audience)}`}`, (o.authorizeTimeoutInSeconds + o.httpTimeoutInSeconds + 5) * 1000, fn);
  }

  private noWorker(): void {
    this.worker = undefined;
    warn('no token worker (CSP worker-src? see workerUrl): refresh tokens kept in page memory');
  }

  /**
   * The redirect transaction: write (a string) or delete (null), then read. In `sessionStorage`,
   * or with `useCookiesForTransactions` in a cookie (1 day, `cookieDomain`) that other tabs see.
   */
  private txStore(v?: string | null): string | undefined {
    const k = this.txKey;
    const o = this.options;
    if (o.useCookiesForTransactions) {
      if (v !== undefined) document.cookie = `${k}=${encodeURIComponent(v ?? '')}; path=/; max-age=${v === null ? 0 : 86400}${o.cookieDomain ? `; domain=${o.cookieDomain}` : ''}${location.protocol === 'https:' ? '; Secure' : ''}`;
      return decodeURIComponent(document.cookie.split('; ').find((c) => c.startsWith(`${k}=`))?.slice(k.length + 1) ?? '') || undefined;
    }
    if (v !== undefined) v === null ? sessionStorage.removeItem(k) : sessionStorage.setItem(k, v);
    return sessionStorage.getItem(k) ?? undefined;
  }

  /**
   * Start-up work: moves an `@auth0/auth0-spa-js` localstorage session (`@@auth0spajs@@::…`)
   * into this SDK's store, then loads a custom cache's entries and user into the in-tab mirror.
   */
  private async init(): Promise<void> {
    await this.migrate();
    if (this.vault instanceof CacheVault) {
      const u = await this.vault.user();
      if (u) this.store.set(this.uKey, u);
      for (const e of await this.vault.all()) this.store.set(this.keyOf(e), strip(e));
    }
  }

  private async migrate(): Promise<void> {
    const o = this.options;
    const base = `${AUTH0_PREFIX}::${o.clientId}`;
    let keys: string[];
    try {
      keys = Object.keys(localStorage).filter((k) => k === base || k.startsWith(`${base}::`));
    } catch {
      return;
    }
    if (!keys.length || o.cache) return;
    const now = Date.now();
    for (const k of keys) {
      let v: { body?: WrappedCacheEntry['body']; id_token?: string; decodedToken?: { claims: IdTokenClaims; user: User } } | null = null;
      try {
        v = JSON.parse(localStorage.getItem(k) ?? 'null');
      } catch {
        // not ours to understand
      }
      if (v?.decodedToken && v.id_token) {
        this.store.set(this.uKey, { id_token: v.id_token, claims: v.decodedToken.claims, user: v.decodedToken.user, obtainedAt: now } as UserRecord);
        this.setMarker();
      } else if (v?.body && (v.body.access_token || v.body.refresh_token)) {
        const e = fromAuth0(v as WrappedCacheEntry);
        const key = this.keyOf(e);
        if (this.worker && e.refresh_token) await this.worker.ask({ t: 'seed', key, rt: e.refresh_token }, 2000);
        await this.persist(key, o.useRefreshTokens ? e : strip(e));
      }
      localStorage.removeItem(k);
    }
  }

  /** Writes an entry (with its refresh token, if any) where this mode keeps it. */
  private async persist(key: string, e: TokenEntry, oldRt?: string): Promise<void> {
    if (this.vault) await this.vault.put(key, e, oldRt);
    else if (!this.worker && oldRt && e.refresh_token !== oldRt) {
      // Page-memory refresh tokens: rotation fan-out, as the vaults and the worker do.
      for (const x of this.cached()) if (x.refresh_token === oldRt) this.store.set(this.keyOf(x), { ...x, refresh_token: e.refresh_token } as TokenEntry);
    }
    this.store.set(key, this.vault || this.worker ? strip(e) : e);
  }

  private async authorizeUrl(p: Params, response_mode: string): Promise<{ url: string; tx: Transaction }> {
    const state = randomString();
    const nonce = randomString();
    const code_verifier = randomString();
    const code_challenge = await pkceChallenge(code_verifier);
    const url = `${this.options.domainUrl}/authorize?${toQuery({
      client_id: this.options.clientId,
      ...p,
      response_type: 'code',
      response_mode,
      state,
      nonce,
      code_challenge,
      code_challenge_method: 'S256',
    })}`;
    return { url, tx: { state, nonce, code_verifier, redirect_uri: p.redirect_uri, audience: p.audience, scope: p.scope, max_age: p.max_age } };
  }

  /** Checks an authorization response against its transaction and exchanges the code. */
  private async finishCodeFlow(r: AuthorizationResponse, tx: Transaction, takeLock: boolean): Promise<TokenEntry> {
    if (r.error) {
      if (r.error === 'login_required') await this.clearSession();
      throw new AuthenticationError(r.error, r.error_description ?? r.error, r.state, tx.appState);
    }
    if (!r.state || r.state !== tx.state) throw new GenericError('state_mismatch', 'Invalid state');
    // RFC 9207 §2.4: a response that names another issuer is not this server's (mix-up attack).
    if (r.iss && r.iss !== this.options.issuer) throw new GenericError('invalid_request', 'Issuer mismatch');
    if (!r.code) throw new GenericError('invalid_request', 'Authorization response has no code');
    const code = r.code;
    const exchange = async (): Promise<TokenEntry> => {
      const key = this.keyOf(tx);
      const res = await this.tokenRequest({ client_id: this.options.clientId, grant_type: 'authorization_code', code, code_verifier: tx.code_verifier, redirect_uri: tx.redirect_uri }, [key]);
      return this.save(res.json as TokenResponse, tx, 'authorization_code');
    };
    return takeLock ? this.lock(exchange, tx.audience) : exchange();
  }

  /** Silent authentication in a hidden iframe (caller holds the lock). */
  private async silent(p: Params, timeoutInSeconds?: number): Promise<TokenEntry> {
    if ((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated) {
      throw new GenericError('login_required', 'cross-origin isolated page');
    }
    const { url, tx } = await this.authorizeUrl({ ...p, prompt: 'none' }, 'web_message');
    const r = await runIframe(url, this.serverOrigin(), positive(timeoutInSeconds, this.options.authorizeTimeoutInSeconds));
    return this.finishCodeFlow(r, tx, false);
  }

  /**
   * Refresh-token grant (caller holds the lock; `v` and `all` were read from the authoritative
   * store). With `useMrrt`, an audience without its own refresh token uses the client's one
   * (the server's `refresh_token.policies` decide), sending `audience` and `scope`.
   */
  private async refresh(p: Params, v: TokenEntry | undefined, all: TokenEntry[], timeoutInSeconds?: number): Promise<TokenEntry> {
    const o = this.options;
    const aud = audienceKey(p.audience);
    // (Rotation fan-out keeps every entry of one family on its current token: any will do.)
    const src = v?.refresh_token ? v : o.useMrrt ? all.find((e) => e.refresh_token) : undefined;
    const rt = src?.refresh_token;
    try {
      if (!this.worker && !rt) throw new MissingRefreshTokenError(aud, p.scope);
      const keys = [this.keyOf(p)];
      if (v) keys.push(this.keyOf(v));
      const body: Record<string, string> = { client_id: o.clientId, grant_type: 'refresh_token', redirect_uri: p.redirect_uri };
      if (rt) body.refresh_token = rt;
      // Another API than the refresh token's own: ask for it (multi-resource refresh token).
      const other = o.useMrrt && (this.worker ? !v : !src || src.audience !== aud);
      if (o.useMrrt && p.audience) body.audience = p.audience;
      if (other) body.scope = p.scope;
      const r = await this.tokenRequest(body, keys, positive(timeoutInSeconds, o.httpTimeoutInSeconds), other);
      const granted = String(r.json.scope ?? p.scope).split(' ');
      const missing = other ? p.scope.split(' ').filter((s) => !granted.includes(s)) : [];
      const entry = await this.save(r.json as TokenResponse, { audience: p.audience, scope: p.scope }, 'refresh_token', rt, r.rotated);
      if (missing.length) throw new MissingScopesError(aud, missing.join(' '));
      return entry;
    } catch (e) {
      const code = (e as GenericError).error;
      if (code === 'invalid_grant') await this.clearSession();
      if (o.useRefreshTokensFallback && (code === 'invalid_grant' || code === 'missing_refresh_token')) return this.silent(p, timeoutInSeconds);
      throw e;
    }
  }

  private async tokenRequest(body: Record<string, string>, keys: string[], seconds = this.options.httpTimeoutInSeconds, mrrt?: boolean): Promise<PostResult> {
    const url = `${this.options.domainUrl}/oauth/token`;
    if (this.worker && !(await this.worker.started)) this.noWorker();
    const r = await this.post(url, body, seconds * 1000, this.worker && { t: 'token', keys, mrrt });
    tokenResult(r, url);
    return r;
  }

  /** Validates and persists a token response; resolves once persisted (before the lock is released). */
  private async save(
    res: TokenResponse,
    ctx: { audience?: string; scope: string; nonce?: string; max_age?: number | string },
    grant: TokenEventDetail['grant'],
    oldRt?: string,
    rotatedInWorker?: boolean,
  ): Promise<TokenEntry> {
    const o = this.options;
    const now = Date.now();
    const nowSec = await this.nowSec();
    const key = this.keyOf(ctx);
    const prev = this.store.get<UserRecord>(this.uKey);
    let user: UserRecord | undefined;
    if (res.id_token) {
      const v = verifyIdToken({ id_token: res.id_token, iss: o.issuer, aud: o.clientId, nonce: ctx.nonce, max_age: ctx.max_age ?? o.authorizationParams.max_age, leeway: o.leeway, now: nowSec });
      user = { id_token: res.id_token, claims: v.claims, user: v.user, obtainedAt: now };
    } else if (grant === 'authorization_code' && ctx.scope.split(' ').includes('openid')) {
      throw new GenericError('invalid_id_token', 'ID token is required but missing');
    }
    if (grant === 'authorization_code' && prev && user && prev.claims.sub !== user.claims.sub) {
      // A different user signed in: nothing of the previous one may survive.
      this.store.clear(this.prefix, now, key);
      await this.vault?.clear(key);
      await this.worker?.ask({ t: 'clear', keep: key }, 2000);
    }
    const expiresIn = Number(res.expires_in);
    const entry: TokenEntry = {
      audience: ctx.audience || 'default',
      scope: ctx.scope,
      access_token: res.access_token,
      token_type: res.token_type ?? 'Bearer',
      expires_in: expiresIn,
      oauthTokenScope: res.scope,
      expiresAt: nowSec + expiresIn,
      obtainedAt: now,
    };
    // A server that does not rotate may omit refresh_token: keep the one presented.
    const rt = o.useRefreshTokens ? res.refresh_token ?? oldRt : undefined;
    const rotated = rotatedInWorker || (!!oldRt && rt !== oldRt);
    await this.persist(key, { ...entry, refresh_token: rt }, oldRt);
    if (user) {
      this.store.set(this.uKey, user);
      await this.vault?.setUser?.(user);
    }
    this.setMarker();
    const info: TokenEventDetail = { grant, rotated, audience: entry.audience, scope: entry.scope, expiresAt: entry.expiresAt, obtainedAt: now, remote: false };
    // Tokens go to other tabs only where they share the store; sign-outs always do.
    if (this.vault && !this.vault.perTab) this.channel?.postMessage({ t: 'set', key, entry, user, info } satisfies Broadcast);
    this.emit('token', info);
    this.schedule(key, entry);
    return entry;
  }

  /**
   * Revokes the stored refresh tokens of `aud` (all without) and forgets them in every entry
   * holding one; throws the first failure. Caller holds the lock.
   */
  private async revoke(aud: string | undefined, seconds: number): Promise<void> {
    const o = this.options;
    const timeout = seconds * 1000;
    const url = `${o.domainUrl}/oauth/revoke`;
    const body = { client_id: o.clientId, token_type_hint: 'refresh_token' };
    let r: PostResult | undefined;
    if (this.worker) {
      const proofs = await this.dp?.then((d) => d.revokeProofs(url));
      r = await this.worker.ask({ t: 'revoke', body, timeout, json: !o.useFormData, proofs, under: aud && `${this.prefix}${aud}::` }, timeout + 1000);
    } else {
      const all = await this.authoritative();
      const rts = new Set(all.filter((e) => (!aud || e.audience === aud) && e.refresh_token).map((e) => e.refresh_token));
      for (const token of rts) {
        const x = await this.post(url, { ...body, token: token! }, timeout);
        if (!x.ok) r ??= x;
      }
      for (const e of all) if (rts.has(e.refresh_token)) await this.persist(this.keyOf(e), { ...e, refresh_token: undefined });
    }
    if (r && !r.ok) throw errorFromBody(r.json, `HTTP error ${r.status}. Unable to revoke`);
  }

  /** Forgets the session locally, in every tab: tokens, user, refresh tokens. */
  private async clearSession(): Promise<void> {
    const at = Date.now();
    this.forget(at, true);
    try {
      localStorage.removeItem(this.mKey);
    } catch {
      // storage disabled
    }
    await this.vault?.clear().catch(() => undefined);
    await this.worker?.ask({ t: 'clear' }, 2000);
    this.channel?.postMessage({ t: 'clear', at } satisfies Broadcast);
  }

  /** Local part of a sign-out: the in-tab state, timers, and the `clear` event. */
  private forget(at: number, local: boolean): void {
    this.store.clear(this.prefix, at, undefined, local);
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.emit('clear', undefined);
  }

  private async onBroadcast(m: Broadcast): Promise<void> {
    if (m.t === 'set') {
      this.store.mirror(m.key, m.entry);
      if (m.user) this.store.mirror(this.uKey, m.user);
      this.emit('token', { ...m.info, remote: true });
      this.schedule(m.key, m.entry);
    } else if (m.t === 'clear') {
      // Shared stores were cleared by the other tab; what only this tab holds is cleared here.
      this.forget(m.at, false);
      if (this.vault?.perTab) await this.vault.clear();
      await this.worker?.ask({ t: 'clear' }, 2000);
    }
  }

  private emit<K extends keyof ClientEvents>(type: K, detail: ClientEvents[K]): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * The `expiring` event, and with `autoRenew` the renewal, `autoRenew` seconds (default 60)
   * before the access token of `key` expires — never sooner than half its lifetime, so a
   * lifetime shorter than that lead cannot make it loop. Waits while the page is hidden. Across
   * tabs, renewals started together are served by one refresh (the lock, and results obtained
   * after a call started are reused).
   */
  private schedule(key: string, e: TokenEntry): void {
    const o = this.options;
    clearTimeout(this.timers.get(key));
    if (!e.expires_in) return;
    const delay = Math.max((e.expiresAt - (o.autoRenew || 60)) * 1000 - Date.now(), e.expires_in * 500);
    const run = (): void => {
      if (this.timers.get(key) !== id) return;
      if (document.visibilityState === 'hidden') return void document.addEventListener('visibilitychange', run, { once: true });
      this.timers.delete(key);
      this.emit('expiring', { audience: e.audience, scope: e.scope, expiresAt: e.expiresAt });
      if (o.autoRenew) {
        this.getTokenSilently({ cacheMode: 'off', authorizationParams: { audience: e.audience === 'default' ? undefined : e.audience, scope: e.scope } }).catch((err) => this.emit('error', err));
      }
    };
    const id = setTimeout(run, Math.min(delay, 2 ** 31 - 1));
    this.timers.set(key, id);
  }

  // ---------------------------------------------------------------- storage helpers

  private keyOf(e: { audience?: string; scope: string }): string {
    return entryKey(this.options.clientId, e.audience, e.scope);
  }

  /** The token entries of this client in the in-tab store (the user and the marker have no `access_token`). */
  private cached(): TokenEntry[] {
    return this.store
      .keys()
      .filter((k) => k.startsWith(this.prefix))
      .map((k) => this.store.get<TokenEntry>(k)!)
      .filter((e) => typeof e?.access_token === 'string');
  }

  private async authoritative(): Promise<TokenEntry[]> {
    return this.vault ? this.vault.all() : this.cached();
  }

  private detailed(e: TokenEntry, now: number): GetTokenSilentlyVerboseResponse {
    return {
      access_token: e.access_token,
      id_token: this.store.get<UserRecord>(this.uKey)?.id_token,
      token_type: e.token_type,
      expires_in: Math.max(0, e.expiresAt - now),
      expires_at: e.expiresAt,
      scope: e.oauthTokenScope,
    };
  }

  private setMarker(): void {
    try {
      localStorage.setItem(this.mKey, String(Date.now() + this.options.sessionCheckExpiryDays * 864e5));
    } catch {
      // storage disabled: checkSession will not try silently after a reload
    }
  }

  private hasMarker(): boolean {
    try {
      return Number(localStorage.getItem(this.mKey)) > Date.now();
    } catch {
      return false;
    }
  }
}

/** The entry without its refresh token. */
const strip = ({ refresh_token: _rt, ...rest }: TokenEntry): TokenEntry => rest;

export async function createAuth0Client(options: Auth0ClientOptions): Promise<Auth0Client> {
  const client = new Auth0Client(options);
  await client.checkSession();
  return client;
}
