import assert from 'node:assert/strict';
import { test } from 'node:test';
import { delta, login, withEnv } from './harness.js';

const MEM = { cacheLocation: 'memory', useRefreshTokens: true };

test('memory mode: the refresh token lives only in the Web Worker, never readable by page script', () =>
  withEnv({ tokenLifetime: 2, leeway: 0 }, async ({ spa, page, server, context }) => {
    // Capture every refresh token the server hands out (the worker's fetches included).
    const seen: string[] = [];
    const pending: Promise<void>[] = [];
    context.on('response', (r) => {
      if (r.url() === `${server.url}/oauth/token` && r.request().method() === 'POST') {
        pending.push(
          r.json().then(
            (j: { refresh_token?: string }) => void (j.refresh_token && seen.push(j.refresh_token)),
            () => undefined,
          ),
        );
      }
    });
    await login(page, spa.origin, MEM);
    const m0 = await server.metrics();
    const t1 = await page.evaluate(() => window.auth0.getTokenSilently({ cacheMode: 'off' }));
    const t2 = await page.evaluate(() => window.auth0.getTokenSilently({ cacheMode: 'off' }));
    assert.notEqual(t1, t2);
    const m1 = await server.metrics();
    assert.equal(delta(m1, m0, 'sertft'), 2, 'refreshes worked from the worker');
    await Promise.all(pending);
    assert.ok(seen.length >= 3, `captured the refresh tokens issued (code exchange + 2 rotations), got ${seen.length}`);

    const dump = await page.evaluate(async () => {
      const parts: string[] = [JSON.stringify({ ...localStorage }), JSON.stringify({ ...sessionStorage })];
      // Every IndexedDB database of the origin, every store, every record.
      const dbs = await indexedDB.databases();
      for (const info of dbs) {
        const db = await new Promise<IDBDatabase>((res, rej) => {
          const r = indexedDB.open(info.name!);
          r.onsuccess = () => res(r.result);
          r.onerror = () => rej(r.error);
        });
        for (const name of Array.from(db.objectStoreNames)) {
          const all = await new Promise<unknown[]>((res) => {
            const r = db.transaction(name).objectStore(name).getAll();
            r.onsuccess = () => res(r.result);
          });
          parts.push(JSON.stringify(all));
        }
        db.close();
      }
      // Page globals, deeply (including the client object and its private state).
      const seenObjs = new WeakSet<object>();
      const walk = (v: unknown, depth: number): void => {
        if (typeof v === 'string') return void parts.push(v);
        if (!v || (typeof v !== 'object' && typeof v !== 'function') || depth > 6 || seenObjs.has(v as object)) return;
        seenObjs.add(v as object);
        if (v instanceof Node || v === localStorage || v === sessionStorage) return;
        if (v instanceof Map) return void [...v.entries()].forEach((e) => walk(e, depth + 1));
        let keys: string[] = [];
        try {
          keys = Object.getOwnPropertyNames(v);
        } catch {
          return;
        }
        for (const k of keys) {
          let x: unknown;
          try {
            x = (v as Record<string, unknown>)[k];
          } catch {
            continue;
          }
          walk(x, depth + 1);
        }
      };
      for (const k of Object.getOwnPropertyNames(window)) {
        if (k === 'window' || k === 'self' || k === 'top' || k === 'parent' || k === 'frames' || k === 'globalThis') continue;
        try {
          walk((window as unknown as Record<string, unknown>)[k], 0);
        } catch {
          // inaccessible global
        }
      }
      return { text: parts.join('\n'), dbs: dbs.map((d) => d.name) };
    });
    assert.ok(dump.text.includes(String(t2)), 'sanity: the dump does contain the access token held by the page');
    for (const rt of seen) assert.ok(!dump.text.includes(rt), 'a refresh token is readable by page script');
    assert.ok(!dump.dbs.includes('ratchet-spa-js'), 'memory mode does not use IndexedDB');
  }));
