import type { TokenEntry } from './cache.js';

/**
 * The authoritative token store of `cacheLocation: 'localstorage'`, in IndexedDB.
 *
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
    r.onerror = () => {
      dbPromise = undefined;
      reject(r.error);
    };
  }));
}

function run<T>(mode: IDBTransactionMode, body: (s: IDBObjectStore, out: { v?: T }) => void): Promise<T> {
  return openDb().then(
    (db) =>
      new Promise<T>((resolve, reject) => {
        const t = db.transaction(STORE, mode);
        const out: { v?: T } = {};
        t.oncomplete = () => resolve(out.v as T);
        t.onerror = t.onabort = () => reject(t.error ?? new Error('IndexedDB transaction aborted'));
        body(t.objectStore(STORE), out);
      }),
  );
}

const range = (prefix: string): IDBKeyRange => IDBKeyRange.bound(prefix, `${prefix}\uffff`);

export class Vault {
  constructor(private prefix: string) {}

  /** All entries of this client, read in a fresh transaction. */
  all(): Promise<TokenEntry[]> {
    return run<TokenEntry[]>('readonly', (s, out) => {
      const r = s.getAll(range(this.prefix));
      r.onsuccess = () => (out.v = r.result as TokenEntry[]);
    });
  }

  /**
   * Stores `entry` under `key` and, in the same transaction, replaces `oldRt` by the entry's
   * refresh token in every other entry (rotation fan-out). Resolves after commit.
   */
  put(key: string, entry: TokenEntry, oldRt?: string): Promise<void> {
    return run<void>('readwrite', (s) => {
      s.put(entry, key);
      const newRt = entry.refresh_token;
      if (!oldRt || !newRt || oldRt === newRt) return;
      const c = s.openCursor(range(this.prefix));
      c.onsuccess = () => {
        const cur = c.result;
        if (!cur) return;
        const v = cur.value as TokenEntry;
        if (cur.key !== key && v.refresh_token === oldRt) cur.update({ ...v, refresh_token: newRt });
        cur.continue();
      };
    });
  }

  /** Deletes every entry of this client but `keep`. Resolves after commit. */
  clear(keep?: string): Promise<void> {
    return run<void>('readwrite', (s) => {
      const c = s.openCursor(range(this.prefix));
      c.onsuccess = () => {
        const cur = c.result;
        if (!cur) return;
        if (cur.key !== keep) cur.delete();
        cur.continue();
      };
    });
  }
}
