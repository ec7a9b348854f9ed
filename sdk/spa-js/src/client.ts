import {
  clientPrefix,
  entryKey,
  findEntry,
  isExpired,
  LocalStore,
  markerKey,
  MemoryStore,
  userKey,
  type Store,
  type TokenEntry,
  type UserRecord,
} from './cache.js';
import { AuthenticationError, GenericError, MissingRefreshTokenError, PopupOpenError } from './errors.js';
import { runIframe, runPopup, type AuthorizationResponse } from './frame.js';
import { postForm, tokenResult, type PostResult, type TokenResponse } from './http.js';
import { verifyIdToken, type IdTokenClaims, type User } from './jwt.js';
import { withLock } from './lock.js';
import { normalizeOptions, resolveScope, type Auth0ClientOptions, type AuthorizationParams, type NormalizedOptions } from './options.js';
import { nowSeconds, pkceChallenge, randomString, toQuery } from './util.js';
import { Vault } from './vault.js';
import { TokenWorker } from './worker.js';

export interface RedirectLoginOptions<TAppState = unknown> {
  authorizationParams?: AuthorizationParams;
  appState?: TAppState;
  fragment?: string;
  /** Replaces `window.location.assign(url)`. */
  openUrl?: (url: string) => Promise<void> | void;
}

export interface RedirectLoginResult<TAppState = unknown> {
  appState?: TAppState;
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
 * Auth0 SPA SDK v2 compatible client. Extends `EventTarget`: `token` (CustomEvent with a
 * {@link TokenEventDetail}) and `clear` (the local session was cleared, in this or another tab).
 */
export class Auth0Client extends EventTarget {
  readonly options: Readonly<NormalizedOptions>;
  private store: Store;
  /** IndexedDB: refresh tokens and the authoritative copy of entries (localstorage mode). */
  private vault?: Vault;
  /** Holds refresh tokens off the main thread (memory mode + useRefreshTokens). */
  private worker?: TokenWorker;
  private channel?: BroadcastChannel;
  private prefix: string;
  private txKey: string;

  constructor(options: Auth0ClientOptions) {
    super();
    if (!globalThis.crypto?.subtle) {
      throw new GenericError('insecure_origin', 'crypto.subtle is unavailable: the SDK must run on a secure origin (https, localhost or 127.0.0.1)');
    }
    const o = (this.options = normalizeOptions(options, location.origin));
    this.prefix = clientPrefix(o.clientId);
    this.txKey = `ratchet.spajs.txs.${o.clientId}`;
    if (o.cacheLocation === 'localstorage') {
      this.store = new LocalStore(localStorage);
      this.vault = new Vault(this.prefix);
      if (typeof BroadcastChannel === 'function') {
        this.channel = new BroadcastChannel(`${this.prefix}channel`);
        this.channel.onmessage = (e: MessageEvent<Broadcast>) => this.onBroadcast(e.data);
      }
    } else {
      this.store = new MemoryStore();
      if (o.useRefreshTokens && typeof Worker === 'function') this.worker = new TokenWorker(o.domainUrl);
    }
  }

  // ---------------------------------------------------------------- public API

  async loginWithRedirect<TAppState = unknown>(opts: RedirectLoginOptions<TAppState> = {}): Promise<void> {
    const { url, tx } = await this.authorizeUrl(this.params(opts.authorizationParams), 'query');
    sessionStorage.setItem(this.txKey, JSON.stringify({ ...tx, appState: opts.appState }));
    const full = opts.fragment ? `${url}#${opts.fragment}` : url;
    if (opts.openUrl) await opts.openUrl(full);
    else location.assign(full);
  }

  async handleRedirectCallback<TAppState = unknown>(url: string = location.href): Promise<RedirectLoginResult<TAppState>> {
    const query = url.split('#')[0]!.split('?').slice(1).join('?');
    if (!query) throw new GenericError('invalid_request', 'There are no query params available for parsing.');
    const p = new URLSearchParams(query);
    const raw = sessionStorage.getItem(this.txKey);
    if (!raw) throw new GenericError('missing_transaction', 'Invalid state');
    sessionStorage.removeItem(this.txKey);
    const tx = JSON.parse(raw) as Transaction;
    const state = p.get('state') ?? undefined;
    const error = p.get('error');
    if (error) throw new AuthenticationError(error, p.get('error_description') ?? error, state, tx.appState);
    await this.finishCodeFlow({ code: p.get('code') ?? undefined, state }, tx, true);
    return { appState: tx.appState as TAppState };
  }

  async loginWithPopup(opts: PopupLoginOptions = {}, config: PopupConfigOptions = {}): Promise<void> {
    // Open synchronously, inside the user gesture, before any await.
    const popup =
      config.popup ??
      open('', 'ratchet:authorize:popup', `left=${screenX + (innerWidth - 400) / 2},top=${screenY + (innerHeight - 600) / 2},width=400,height=600,resizable,scrollbars=yes,status=1`);
    if (!popup) throw new PopupOpenError();
    const { url, tx } = await this.authorizeUrl(this.params(opts.authorizationParams), 'web_message');
    const r = await runPopup(popup, url, this.serverOrigin(), config.timeoutInSeconds ?? this.options.authorizeTimeoutInSeconds, config.closePopup !== false);
    await this.finishCodeFlow(r, tx, true);
  }

  getTokenSilently(opts: GetTokenSilentlyOptions & { detailedResponse: true }): Promise<GetTokenSilentlyVerboseResponse>;
  getTokenSilently(opts?: GetTokenSilentlyOptions): Promise<string>;
  async getTokenSilently(opts: GetTokenSilentlyOptions = {}): Promise<string | GetTokenSilentlyVerboseResponse | undefined> {
    const mode = opts.cacheMode ?? 'on';
    const p = this.params(opts.authorizationParams);
    const start = Date.now();
    const out = (e: TokenEntry): string | GetTokenSilentlyVerboseResponse => (opts.detailedResponse ? this.detailed(e) : e.access_token);
    if (mode !== 'off') {
      const hit = findEntry(this.entries(), p.audience, p.scope);
      if (hit && !isExpired(hit, nowSeconds())) return out(hit);
      if (mode === 'cache-only') return undefined;
    }
    const entry = await this.lock(async () => {
      // Authoritative re-read under the lock (IndexedDB in localstorage mode, never localStorage).
      const v = await this.authoritative(p.audience, p.scope);
      // A result obtained after this call started (e.g. by another tab that held the lock) is
      // fresh by definition: use it instead of refreshing again.
      if (v && v.access_token && (v.obtainedAt >= start || (mode !== 'off' && !isExpired(v, nowSeconds())))) {
        if (this.vault) this.store.set(entryKey(this.options.clientId, v.audience, v.scope), strip(v));
        return v;
      }
      return this.options.useRefreshTokens ? this.refresh(p, v, opts.timeoutInSeconds) : this.silent(p, opts.timeoutInSeconds);
    });
    return out(entry);
  }

  async getUser<TUser extends User = User>(): Promise<TUser | undefined> {
    return this.store.get<UserRecord>(userKey(this.options.clientId))?.user as TUser | undefined;
  }

  async getIdTokenClaims(): Promise<(IdTokenClaims & { __raw: string }) | undefined> {
    const u = this.store.get<UserRecord>(userKey(this.options.clientId));
    return u ? { ...u.claims, __raw: u.id_token } : undefined;
  }

  async isAuthenticated(): Promise<boolean> {
    return !!(await this.getUser());
  }

  /** Tries to restore a session silently if this browser was signed in; never throws. */
  async checkSession(opts?: GetTokenSilentlyOptions): Promise<void> {
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
    await this.lock(() => this.revokeAll()).catch(() => undefined);
    await this.clearSession();
    if (opts.openUrl === false) return;
    const { federated, ...rest } = opts.logoutParams ?? {};
    const clientId = opts.clientId === undefined ? this.options.clientId : opts.clientId;
    const url = `${this.options.domainUrl}/v2/logout?${toQuery({ client_id: clientId ?? undefined, ...rest })}${federated ? '&federated' : ''}`;
    if (opts.openUrl) await opts.openUrl(url);
    else location.assign(url);
  }

  // ---------------------------------------------------------------- flows

  private params(extra?: AuthorizationParams): Params {
    const base = this.options.authorizationParams;
    return { ...base, ...extra, redirect_uri: extra?.redirect_uri ?? base.redirect_uri, scope: resolveScope(this.options.useRefreshTokens, base.scope, extra?.scope) };
  }

  private serverOrigin(): string {
    return new URL(this.options.domainUrl).origin;
  }

  private lock<T>(fn: () => Promise<T>): Promise<T> {
    const o = this.options;
    // Bounded: a holder may run an iframe (authorize timeout) and a token request (http timeout).
    return withLock(`${this.prefix}lock`, (o.authorizeTimeoutInSeconds + o.httpTimeoutInSeconds + 5) * 1000, fn);
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
    if (!r.code) throw new GenericError('invalid_request', 'Authorization response has no code');
    const code = r.code;
    const exchange = async (): Promise<TokenEntry> => {
      const key = entryKey(this.options.clientId, tx.audience, tx.scope);
      const res = await this.tokenRequest({ client_id: this.options.clientId, grant_type: 'authorization_code', code, code_verifier: tx.code_verifier, redirect_uri: tx.redirect_uri }, [key]);
      return this.save(res.json as TokenResponse, tx, 'authorization_code', undefined, false);
    };
    return takeLock ? this.lock(exchange) : exchange();
  }

  /** Silent authentication in a hidden iframe (caller holds the lock). */
  private async silent(p: Params, timeoutInSeconds?: number): Promise<TokenEntry> {
    if ((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated) {
      throw new GenericError('login_required', 'Silent authentication is not possible in a cross-origin isolated context');
    }
    const { url, tx } = await this.authorizeUrl({ ...p, prompt: 'none' }, 'web_message');
    const r = await runIframe(url, this.serverOrigin(), timeoutInSeconds ?? this.options.authorizeTimeoutInSeconds);
    return this.finishCodeFlow(r, tx, false);
  }

  /** Refresh-token grant (caller holds the lock; `v` was read from the authoritative store). */
  private async refresh(p: Params, v: TokenEntry | undefined, timeoutInSeconds?: number): Promise<TokenEntry> {
    const o = this.options;
    const rt = v?.refresh_token;
    try {
      if (!this.worker && !rt) throw new MissingRefreshTokenError(p.audience, p.scope);
      const keys = [entryKey(o.clientId, p.audience, p.scope)];
      if (v) keys.push(entryKey(o.clientId, v.audience, v.scope));
      const body: Record<string, string> = { client_id: o.clientId, grant_type: 'refresh_token', redirect_uri: p.redirect_uri };
      if (rt) body.refresh_token = rt;
      const r = await this.tokenRequest(body, keys);
      return await this.save(r.json as TokenResponse, { audience: p.audience, scope: p.scope }, 'refresh_token', rt, r.rotated ?? false);
    } catch (e) {
      const code = (e as GenericError).error;
      if (code === 'invalid_grant') await this.clearSession();
      if (o.useRefreshTokensFallback && (code === 'invalid_grant' || code === 'missing_refresh_token')) return this.silent(p, timeoutInSeconds);
      throw e;
    }
  }

  private async tokenRequest(body: Record<string, string>, keys: string[]): Promise<PostResult> {
    const url = `${this.options.domainUrl}/oauth/token`;
    const timeout = this.options.httpTimeoutInSeconds * 1000;
    const r = this.worker ? await this.worker.call({ t: 'token', body, keys, timeout }, timeout + 1000) : await postForm(url, body, timeout);
    tokenResult(r, url);
    return r;
  }

  /** Validates and persists a token response; resolves once persisted (before the lock is released). */
  private async save(
    res: TokenResponse,
    ctx: { audience?: string; scope: string; nonce?: string; max_age?: number | string },
    grant: TokenEventDetail['grant'],
    oldRt: string | undefined,
    rotatedInWorker: boolean,
  ): Promise<TokenEntry> {
    const o = this.options;
    const now = Date.now();
    const uKey = userKey(o.clientId);
    const key = entryKey(o.clientId, ctx.audience, ctx.scope);
    const prev = this.store.get<UserRecord>(uKey);
    let user: UserRecord | undefined;
    if (res.id_token) {
      const maxAge = ctx.max_age ?? o.authorizationParams.max_age;
      const v = verifyIdToken({ id_token: res.id_token, iss: o.issuer, aud: o.clientId, nonce: ctx.nonce, max_age: maxAge, leeway: o.leeway, now: Math.floor(now / 1000) });
      user = { id_token: res.id_token, claims: v.claims, user: v.user, obtainedAt: now };
    } else if (grant === 'authorization_code' && ctx.scope.split(' ').includes('openid')) {
      throw new GenericError('invalid_id_token', 'ID token is required but missing');
    }
    if (grant === 'authorization_code' && prev && user && prev.claims.sub !== user.claims.sub) {
      // A different user signed in: nothing of the previous one may survive.
      this.store.clear(this.prefix, now, key);
      await this.vault?.clear(key);
      await this.worker?.call({ t: 'clear', keep: key }, 2000);
    }
    const expiresIn = Number(res.expires_in);
    const entry: TokenEntry = {
      audience: ctx.audience || 'default',
      scope: ctx.scope,
      access_token: res.access_token,
      token_type: res.token_type ?? 'Bearer',
      expires_in: expiresIn,
      oauthTokenScope: res.scope,
      expiresAt: Math.floor(now / 1000) + expiresIn,
      obtainedAt: now,
    };
    // A server that does not rotate may omit refresh_token: keep the one presented.
    const rt = o.useRefreshTokens ? res.refresh_token ?? oldRt : undefined;
    const rotated = rotatedInWorker || (!!oldRt && !!res.refresh_token && res.refresh_token !== oldRt);
    if (this.vault) await this.vault.put(key, { ...entry, refresh_token: rt }, oldRt);
    this.store.set(key, this.vault || this.worker ? entry : { ...entry, refresh_token: rt });
    if (user) this.store.set(uKey, user);
    this.setMarker();
    const info: TokenEventDetail = { grant, rotated, audience: entry.audience, scope: entry.scope, expiresAt: entry.expiresAt, obtainedAt: now, remote: false };
    this.channel?.postMessage({ t: 'set', key, entry, user, info } satisfies Broadcast);
    this.dispatchEvent(new CustomEvent('token', { detail: info }));
    return entry;
  }

  /** Revokes every stored refresh token (best effort). Caller holds the lock. */
  private async revokeAll(): Promise<void> {
    const o = this.options;
    const timeout = Math.min(o.httpTimeoutInSeconds, 5) * 1000;
    if (this.worker) {
      await this.worker.call({ t: 'revoke', client_id: o.clientId, timeout }, timeout + 1000);
      return;
    }
    const tokens = new Set<string>();
    const from = this.vault ? await this.vault.all() : this.entries();
    for (const e of from) if (e.refresh_token) tokens.add(e.refresh_token);
    for (const token of tokens) await postForm(`${o.domainUrl}/oauth/revoke`, { client_id: o.clientId, token, token_type_hint: 'refresh_token' }, timeout);
  }

  /** Forgets the session locally, in every tab: tokens, user, refresh tokens. */
  private async clearSession(): Promise<void> {
    const at = Date.now();
    this.store.clear(this.prefix, at);
    try {
      localStorage.removeItem(markerKey(this.options.clientId));
    } catch {
      // storage disabled
    }
    await this.vault?.clear().catch(() => undefined);
    await this.worker?.call({ t: 'clear' }, 2000);
    this.channel?.postMessage({ t: 'clear', at } satisfies Broadcast);
    this.dispatchEvent(new Event('clear'));
  }

  private onBroadcast(m: Broadcast): void {
    if (m.t === 'set') {
      this.store.mirror(m.key, m.entry);
      if (m.user) this.store.mirror(userKey(this.options.clientId), m.user);
      this.dispatchEvent(new CustomEvent('token', { detail: { ...m.info, remote: true } }));
    } else if (m.t === 'clear') {
      this.store.clear(this.prefix, m.at, undefined, false);
      this.dispatchEvent(new Event('clear'));
    }
  }

  // ---------------------------------------------------------------- storage helpers

  private entries(): TokenEntry[] {
    const out: TokenEntry[] = [];
    const uKey = userKey(this.options.clientId);
    for (const k of this.store.keys()) {
      if (!k.startsWith(this.prefix) || k === uKey || k === markerKey(this.options.clientId)) continue;
      const e = this.store.get<TokenEntry>(k);
      if (e && typeof e.access_token === 'string') out.push(e);
    }
    return out;
  }

  private async authoritative(audience: string | undefined, scope: string): Promise<TokenEntry | undefined> {
    return findEntry(this.vault ? await this.vault.all() : this.entries(), audience, scope);
  }

  private detailed(e: TokenEntry): GetTokenSilentlyVerboseResponse {
    return {
      access_token: e.access_token,
      id_token: this.store.get<UserRecord>(userKey(this.options.clientId))?.id_token,
      token_type: e.token_type,
      expires_in: Math.max(0, e.expiresAt - nowSeconds()),
      expires_at: e.expiresAt,
      scope: e.oauthTokenScope,
    };
  }

  private setMarker(): void {
    try {
      localStorage.setItem(markerKey(this.options.clientId), String(Date.now() + this.options.sessionCheckExpiryDays * 864e5));
    } catch {
      // storage disabled: checkSession will not try silently after a reload
    }
  }

  private hasMarker(): boolean {
    try {
      return Number(localStorage.getItem(markerKey(this.options.clientId))) > Date.now();
    } catch {
      return false;
    }
  }
}

const strip = (e: TokenEntry): TokenEntry => {
  const { refresh_token: _rt, ...rest } = e;
  return rest;
};

export async function createAuth0Client(options: Auth0ClientOptions): Promise<Auth0Client> {
  const client = new Auth0Client(options);
  await client.checkSession();
  return client;
}
