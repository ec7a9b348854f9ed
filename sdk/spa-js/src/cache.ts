import type { IdTokenClaims, User } from './jwt.js';

export const PREFIX = '@@ratchet@@';
/** Tokens are treated as expired this many seconds before `expires_in` says. */
export const EXPIRY_MARGIN_SECONDS = 60;

export interface TokenEntry {
  audience: string;
  /** The requested scope this entry is stored under. */
  scope: string;
  access_token: string;
  token_type: string;
  expires_in: number;
  /** Scope the server granted (`scope` in the token response). */
  oauthTokenScope?: string;
  /** Unix seconds: obtained-at + expires_in. */
  expiresAt: number;
  /** Milliseconds (Date.now()) when the response arrived. */
  obtainedAt: number;
  /** Only in the IndexedDB vault (localstorage mode) or in memory without a Worker. */
  refresh_token?: string;
}

export interface UserRecord {
  id_token: string;
  claims: IdTokenClaims;
  user: User;
  obtainedAt: number;
}

export const audienceKey = (audience?: string): string => audience || 'default';

export const clientPrefix = (clientId: string): string => `${PREFIX}::${clientId}::`;

export const entryKey = (clientId: string, audience: string | undefined, scope: string): string =>
  `${clientPrefix(clientId)}${audienceKey(audience)}::${scope}`;

export const userKey = (clientId: string): string => `${clientPrefix(clientId)}@@user@@`;

export const markerKey = (clientId: string): string => `${clientPrefix(clientId)}@@session@@`;

/** True when the entry must not be served: `expiresAt - 60 < now`. */
export function isExpired(e: Pick<TokenEntry, 'expiresAt'>, nowSec: number, margin = EXPIRY_MARGIN_SECONDS): boolean {
  return !(e.expiresAt - margin >= nowSec);
}

/** Exact audience+scope first, else the first entry of that audience whose scope is a superset. */
export function findEntry<T extends Pick<TokenEntry, 'audience' | 'scope'>>(entries: T[], audience: string | undefined, scope: string): T | undefined {
  const aud = audienceKey(audience);
  const want = scope.split(' ').filter(Boolean);
  return entries.find((e) => e.audience === aud && e.scope === scope) ?? entries.find((e) => e.audience === aud && want.every((s) => e.scope.split(' ').includes(s)));
}

type Stamped = { obtainedAt: number } & object;

/** Synchronous key-value cache of token entries and the user, for the lock-free fast path. */
export interface Store {
  get<T extends Stamped>(key: string): T | undefined;
  set(key: string, value: Stamped): void;
  /** Values received from another tab (BroadcastChannel). */
  mirror(key: string, value: Stamped): void;
  keys(): string[];
  /**
   * Forget everything under `prefix` except `keep`; without `keep`, values obtained before `at`
   * are ignored from now on. `local` false: another tab already removed the persisted copies.
   */
  clear(prefix: string, at: number, keep?: string, local?: boolean): void;
}

/**
 * localStorage (`ls`, localstorage mode; without it, this tab's memory) plus an in-tab mirror fed
 * by BroadcastChannel. A read returns whichever copy was obtained last, so a lagging localStorage
 * never hides a newer result another tab broadcast. Refresh tokens are never written here.
 */
export class LocalStore implements Store {
  private m = new Map<string, Stamped>();
  /** prefix → time of the last clear; older values under it are ignored. */
  private cleared = new Map<string, number>();
  constructor(private ls?: Storage) {}
  get<T extends Stamped>(key: string): T | undefined {
    const a = this.m.get(key);
    let b: Stamped | undefined;
    try {
      b = JSON.parse(this.ls?.getItem(key) ?? 'null') ?? undefined;
    } catch {
      // not JSON: no stored copy
    }
    const v = !a || (b && b.obtainedAt > a.obtainedAt) ? b : a;
    if (!v) return undefined;
    for (const [p, at] of this.cleared) if (key.startsWith(p) && v.obtainedAt < at) return undefined;
    return v as T;
  }
  set(key: string, value: Stamped): void {
    this.m.set(key, value);
    try {
      this.ls?.setItem(key, JSON.stringify(value));
    } catch {
      // quota or disabled storage: the mirror still serves this tab
    }
  }
  mirror(key: string, value: Stamped): void {
    const a = this.m.get(key);
    if (!a || value.obtainedAt >= a.obtainedAt) this.m.set(key, value);
  }
  keys(): string[] {
    const ks = new Set(this.m.keys());
    for (let i = 0; i < (this.ls?.length ?? 0); i++) ks.add(this.ls!.key(i)!);
    return [...ks];
  }
  clear(prefix: string, at: number, keep?: string, local = true): void {
    if (!keep) this.cleared.set(prefix, Math.max(this.cleared.get(prefix) ?? 0, at));
    for (const k of this.keys()) {
      if (!k.startsWith(prefix) || k === keep) continue;
      this.m.delete(k);
      if (local) this.ls?.removeItem(k);
    }
  }
}

// ------------------------------------------------------------------ Auth0-compatible cache API

/** Auth0 SPA SDK's cache key prefix and entry shapes (`ICache` implementations store these). */
export const AUTH0_PREFIX = '@@auth0spajs@@';

export type MaybePromise<T> = Promise<T> | T;

export interface CacheKeyData {
  audience?: string;
  scope?: string;
  clientId: string;
}

export interface DecodedToken {
  claims: IdTokenClaims;
  user: User;
}

export interface CacheEntry {
  id_token?: string;
  token_type?: string;
  access_token: string;
  expires_in: number;
  decodedToken?: DecodedToken;
  audience: string;
  scope: string;
  client_id: string;
  refresh_token?: string;
  oauthTokenScope?: string;
}

export interface WrappedCacheEntry {
  body: Partial<CacheEntry>;
  expiresAt: number;
}

export interface KeyManifestEntry {
  keys: string[];
}

export type Cacheable = WrappedCacheEntry | KeyManifestEntry;

/**
 * A token store supplied by the application (`cache` option), as in Auth0's SDK — except that
 * `allKeys` is required (Auth0's SDK keeps a key manifest in the cache when it is missing).
 */
export interface ICache {
  set<T = Cacheable>(key: string, entry: T): MaybePromise<void>;
  get<T = Cacheable>(key: string): MaybePromise<T | undefined>;
  remove(key: string): MaybePromise<void>;
  allKeys(): MaybePromise<string[]>;
}

/** `@@auth0spajs@@::<clientId>::<audience>::<scope>`, as Auth0's SDK spells cache keys. */
export class CacheKey {
  clientId: string;
  scope?: string;
  audience?: string;
  constructor(
    data: CacheKeyData,
    public prefix = AUTH0_PREFIX,
    public suffix?: string,
  ) {
    this.clientId = data.clientId;
    this.scope = data.scope;
    this.audience = data.audience;
  }
  toKey(): string {
    return [this.prefix, this.clientId, this.audience, this.scope, this.suffix].filter(Boolean).join('::');
  }
  static fromKey(key: string): CacheKey {
    const [prefix, clientId, audience, scope] = key.split('::');
    return new CacheKey({ clientId: clientId!, scope, audience }, prefix);
  }
  static fromCacheEntry(entry: CacheEntry): CacheKey {
    return new CacheKey({ scope: entry.scope, audience: entry.audience, clientId: entry.client_id });
  }
}

/** An `ICache` over `localStorage` (JSON values), as Auth0's. */
export class LocalStorageCache implements ICache {
  set<T = Cacheable>(key: string, entry: T): void {
    localStorage.setItem(key, JSON.stringify(entry));
  }
  get<T = Cacheable>(key: string): T | undefined {
    try {
      // A missing key parses as null.
      return JSON.parse(localStorage.getItem(key)!) ?? undefined;
    } catch {
      return undefined;
    }
  }
  remove(key: string): void {
    localStorage.removeItem(key);
  }
  allKeys(): string[] {
    return Object.keys(localStorage).filter((k) => k.startsWith(AUTH0_PREFIX));
  }
}

/** An in-memory `ICache` (`enclosedCache`), as Auth0's. */
export class InMemoryCache {
  enclosedCache: ICache = ((m: Map<string, unknown>) => ({
    set: (k: string, v: unknown) => void m.set(k, v),
    get: <T>(k: string) => m.get(k) as T | undefined,
    remove: (k: string) => void m.delete(k),
    allKeys: () => [...m.keys()],
  }))(new Map());
}

/**
 * An Auth0 cache entry as ours (its `expiresAt` is unix seconds; entries stripped at expiry lack
 * the access token). Without our `obtainedAt`, it counts as obtained long ago.
 */
export function fromAuth0(w: WrappedCacheEntry): TokenEntry {
  const b = w.body as Partial<TokenEntry>;
  return { obtainedAt: 0, ...b, audience: b.audience || 'default', scope: b.scope ?? '', access_token: b.access_token ?? '', expiresAt: w.expiresAt } as TokenEntry;
}

export function toAuth0(e: TokenEntry, clientId: string): WrappedCacheEntry {
  const { expiresAt, ...body } = e;
  return { body: { ...body, client_id: clientId }, expiresAt };
}
