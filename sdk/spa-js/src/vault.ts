import { warn } from './util.js';
import { AUTH0_PREFIX, fromAuth0, InMemoryCache, toAuth0, type ICache, type TokenEntry, type UserRecord, type WrappedCacheEntry } from './cache.js';

/**
 * The authoritative token store, read under the cross-tab lock and written before it is released:
 * refresh tokens and token entries. Two kinds: IndexedDB (`cacheLocation: 'localstorage'`) and an
 * `ICache` (the application's `cache` option, or this tab's memory when IndexedDB cannot be opened).
 */
export interface TokenVault {
  all(): Promise<TokenEntry[]>;
  /**
   * Stores `entry` under `key` and replaces `oldRt` by the entry's refresh token in every other
   * entry (rotation fan-out). Resolves once durable.
   */
  put(key: string, entry: TokenEntry, oldRt?: string): Promise<void>;
  /** Deletes every entry of this client but `keep`. */
  clear(keep?: string): Promise<void>;
  /** Only this tab sees it (a cleared session elsewhere must be cleared here too). */
  perTab?: boolean;
  user?(): Promise<UserRecord | undefined>;
  setUser?(u: UserRecord): Promise<void>;
}

const fanOut = (v: TokenEntry, oldRt?: string, newRt?: string): TokenEntry | undefined =>
  oldRt && newRt && oldRt !== newRt && v.refresh_token === oldRt ? { ...v, refresh_token: newRt } : undefined;

// ------------------------------------------------------------------ IndexedDB

/**
 * `put` resolves only once its transaction has committed (`complete`), and IndexedDB guarantees a
 * committed transaction is visible to every later transaction of the origin. So a tab that writes
 * the rotated refresh token here *before* releasing the Web Lock, and a tab that reads it here
 * *after* acquiring the lock, always agree — unlike localStorage, whose writes reach other tabs
 * asynchronously.
 */
const DB_NAME = 'ratchet-spa-js';
const STORE = 'tokens';

let dbPromise: Promise<IDBDatabase> | undefined;

function openDb(): Promise<IDBDatabase> {
  return (dbPromise ??= new Promise<IDBDatabase>((resolve, reject) => {
    // Throws when IndexedDB is missing or blocked (e.g. storage disabled): becomes a rejection.
    const r = indexedDB.open(DB_NAME, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE);
    r.onsuccess = () => {
      const db = r.result;
      db.onversionchange = () => {
        db.close();
        dbPromise = undefined;
      };
      resolve(db);
    };
    r.onerror = () => reject(r.error);
  }).catch((e) => {
    dbPromise = undefined;
    throw e;
  }));
}

/** Runs `body` in a transaction; resolves with the result of the request it returns once committed. */
function run<T>(db: IDBDatabase, mode: IDBTransactionMode, body: (s: IDBObjectStore) => IDBRequest): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    const r = body(t.objectStore(STORE));
    t.oncomplete = () => resolve(r.result as T);
    t.onerror = t.onabort = () => reject(t.error ?? new Error('aborted'));
  });
}

const range = (prefix: string): IDBKeyRange => IDBKeyRange.bound(prefix, `${prefix}\uffff`);

/** Calls `fn` on every record whose key starts with `prefix`. */
function each(s: IDBObjectStore, prefix: string, fn: (c: IDBCursorWithValue) => void): IDBRequest {
  const c = s.openCursor(range(prefix));
  c.onsuccess = () => {
    const cur = c.result;
    if (cur) {
      fn(cur);
      cur.continue();
    }
  };
  return c;
}

/**
 * IndexedDB, or — when IndexedDB cannot be opened at all (disabled storage, some private modes) —
 * this tab's memory (an in-memory `ICache`), with one console warning: sign-in still works, but other tabs cannot use
 * this tab's refresh token (they refresh with their own, or fall back to the iframe).
 */
export class Vault implements TokenVault {
  private mem?: CacheVault;
  constructor(private prefix: string) {}

  get perTab(): boolean {
    return !!this.mem;
  }

  private use<T>(idb: (db: IDBDatabase) => Promise<T>, mem: (m: TokenVault) => Promise<T>): Promise<T> {
    if (this.mem) return mem(this.mem);
    return openDb().then(idb, () => {
      if (!this.mem) {
        warn('no IndexedDB: refresh tokens kept in this tab only');
        this.mem = new CacheVault(new InMemoryCache().enclosedCache, this.prefix);
      }
      return mem(this.mem);
    });
  }

  all(): Promise<TokenEntry[]> {
    return this.use(
      (db) => run<TokenEntry[]>(db, 'readonly', (s) => s.getAll(range(this.prefix))),
      (m) => m.all(),
    );
  }

  put(key: string, entry: TokenEntry, oldRt?: string): Promise<void> {
    return this.use(
      (db) =>
        run<void>(db, 'readwrite', (s) => {
          s.put(entry, key);
          return each(s, this.prefix, (cur) => {
            const u = cur.key !== key && fanOut(cur.value as TokenEntry, oldRt, entry.refresh_token);
            if (u) cur.update(u);
          });
        }),
      (m) => m.put(key, entry, oldRt),
    );
  }

  clear(keep?: string): Promise<void> {
    return this.use(
      (db) =>
        run<void>(db, 'readwrite', (s) =>
          each(s, this.prefix, (cur) => {
            if (cur.key !== keep) cur.delete();
          }),
        ),
      (m) => m.clear(keep),
    );
  }
}

// ------------------------------------------------------------------ the application's ICache

/**
 * The `cache` option: entries in Auth0's format and keys (`@@auth0spajs@@::<clientId>::…`), so an
 * `ICache` filled by Auth0's SDK keeps working. Keys are listed with `allKeys` (required here).
 * Refresh tokens are stored in it, as Auth0's SDK does with a custom cache.
 */
export class CacheVault implements TokenVault {
  private root: string;
  private cid: string;
  /** `ours`: this SDK's key prefix of the client (`@@ratchet@@::<clientId>::`). */
  constructor(
    private c: ICache,
    private ours: string,
  ) {
    this.cid = ours.split('::')[1]!;
    this.root = `${AUTH0_PREFIX}::${this.cid}`;
  }

  private akey = (k: string): string => this.root + k.slice(this.ours.length - 2);

  private async ownKeys(): Promise<string[]> {
    const all = await this.c.allKeys();
    return all.filter((k) => k.startsWith(`${this.root}::`));
  }

  async all(): Promise<TokenEntry[]> {
    const out: TokenEntry[] = [];
    for (const k of await this.ownKeys()) {
      const w = await this.c.get<WrappedCacheEntry>(k);
      if (w && w.body && !k.endsWith('::@@user@@')) out.push(fromAuth0(w));
    }
    return out;
  }

  async put(key: string, entry: TokenEntry, oldRt?: string): Promise<void> {
    for (const e of await this.all()) {
      const u = fanOut(e, oldRt, entry.refresh_token);
      if (u) await this.c.set(this.akey(`${this.ours}${e.audience}::${e.scope}`), toAuth0(u, this.cid));
    }
    const k = this.akey(key);
    await this.c.set(k, toAuth0(entry, this.cid));
  }

  async clear(keep?: string): Promise<void> {
    const gone = (await this.ownKeys()).filter((k) => !keep || k !== this.akey(keep));
    for (const k of gone) await this.c.remove(k);
  }

  async user(): Promise<UserRecord | undefined> {
    const u = await this.c.get<{ id_token: string; decodedToken: { claims: UserRecord['claims']; user: UserRecord['user'] } }>(`${this.root}::@@user@@`);
    return u?.decodedToken ? { id_token: u.id_token, claims: u.decodedToken.claims, user: u.decodedToken.user, obtainedAt: 0 } : undefined;
  }

  async setUser(u: UserRecord): Promise<void> {
    const k = `${this.root}::@@user@@`;
    await this.c.set(k, { id_token: u.id_token, decodedToken: { claims: u.claims, user: u.user } });
  }
}
