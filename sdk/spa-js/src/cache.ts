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
  return (
    entries.find((e) => e.audience === aud && e.scope === scope) ??
    entries.find((e) => {
      if (e.audience !== aud) return false;
      const have = e.scope.split(' ');
      return want.every((s) => have.includes(s));
    })
  );
}

type Stamped = { obtainedAt: number };

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

export class MemoryStore implements Store {
  private m = new Map<string, Stamped>();
  get<T extends Stamped>(key: string): T | undefined {
    return this.m.get(key) as T | undefined;
  }
  set(key: string, value: Stamped): void {
    this.m.set(key, value);
  }
  mirror(key: string, value: Stamped): void {
    this.set(key, value);
  }
  keys(): string[] {
    return [...this.m.keys()];
  }
  clear(prefix: string, _at: number, keep?: string): void {
    for (const k of this.keys()) if (k.startsWith(prefix) && k !== keep) this.m.delete(k);
  }
}

/**
 * localStorage plus an in-tab mirror fed by BroadcastChannel. A read returns whichever copy was
 * obtained last, so a lagging localStorage never hides a newer result another tab broadcast.
 * Refresh tokens are never written here.
 */
export class LocalStore implements Store {
  private m = new Map<string, Stamped>();
  /** prefix → time of the last clear; older values under it are ignored. */
  private cleared = new Map<string, number>();
  constructor(private ls: Storage) {}
  get<T extends Stamped>(key: string): T | undefined {
    const a = this.m.get(key);
    let b: Stamped | undefined;
    try {
      b = JSON.parse(this.ls.getItem(key) ?? 'null') ?? undefined;
    } catch {
      b = undefined;
    }
    const v = !a || (b && b.obtainedAt > a.obtainedAt) ? b : a;
    if (!v) return undefined;
    for (const [p, at] of this.cleared) if (key.startsWith(p) && v.obtainedAt < at) return undefined;
    return v as T;
  }
  set(key: string, value: Stamped): void {
    this.m.set(key, value);
    try {
      this.ls.setItem(key, JSON.stringify(value));
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
    for (let i = 0; i < this.ls.length; i++) ks.add(this.ls.key(i)!);
    return [...ks];
  }
  clear(prefix: string, at: number, keep?: string, local = true): void {
    if (!keep) this.cleared.set(prefix, Math.max(this.cleared.get(prefix) ?? 0, at));
    for (const k of this.keys()) {
      if (!k.startsWith(prefix) || k === keep) continue;
      this.m.delete(k);
      if (local) this.ls.removeItem(k);
    }
  }
}
