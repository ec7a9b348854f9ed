import type { PostResult } from './http.js';

/**
 * Body of the token Web Worker (`cacheLocation: 'memory'` + `useRefreshTokens`). It is shipped
 * inside the bundle and started from a Blob URL as `(${tokenWorker})()`, so it must not reference
 * anything outside its own body.
 *
 * Refresh tokens live only in this worker's memory: it strips `refresh_token` from every token
 * response before handing it to the page and injects the stored one into refresh requests. It
 * only ever talks to `<base>/oauth/token` and `<base>/oauth/revoke`; `base` is fixed by the first
 * `init` message, so page script cannot redirect stored tokens elsewhere.
 */
export function tokenWorker(): void {
  const rts = new Map<string, string>();
  let base = '';
  const post = async (path: string, body: Record<string, string>, timeout: number): Promise<PostResult> => {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeout);
    try {
      const r = await fetch(base + path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(body).toString(),
        signal: ac.signal,
      });
      const text = await r.text();
      let json: Record<string, unknown> = {};
      try {
        const p: unknown = text ? JSON.parse(text) : {};
        if (p && typeof p === 'object') json = p as Record<string, unknown>;
      } catch {
        if (r.ok) json = { error: 'invalid_response', error_description: 'Non-JSON response from ' + path };
      }
      return { ok: r.ok && !json.error, status: r.status, json };
    } catch (e) {
      const t = (e as Error)?.name === 'AbortError';
      return { ok: false, status: 0, json: { error: t ? 'timeout' : 'request_error', error_description: t ? 'Timeout fetching ' + path : String((e as Error)?.message ?? e) } };
    } finally {
      clearTimeout(timer);
    }
  };
  const replace = (from: string, to?: string): void => {
    for (const [k, v] of rts) if (v === from) to ? rts.set(k, to) : rts.delete(k);
  };
  addEventListener('message', async (e: MessageEvent) => {
    const m = e.data ?? {};
    const port: MessagePort | undefined = e.ports[0];
    const reply = (v: unknown): void => port?.postMessage(v);
    if (m.t === 'init') {
      if (!base && typeof m.base === 'string') base = m.base;
      return reply({ ok: true });
    }
    if (!base) return reply({ ok: false, status: 0, json: { error: 'worker_not_initialised' } });
    if (m.t === 'clear') {
      for (const k of [...rts.keys()]) if (k !== m.keep) rts.delete(k);
      return reply({ ok: true });
    }
    if (m.t === 'revoke') {
      const tokens = new Set(rts.values());
      rts.clear();
      for (const token of tokens) await post('/oauth/revoke', { client_id: String(m.client_id), token, token_type_hint: 'refresh_token' }, m.timeout);
      return reply({ ok: true });
    }
    if (m.t === 'token') {
      const body: Record<string, string> = { ...m.body };
      const keys: string[] = m.keys;
      let used: string | undefined;
      if (body.grant_type === 'refresh_token') {
        for (const k of keys) if ((used = rts.get(k))) break;
        if (!used) return reply({ ok: false, status: 0, json: { error: 'missing_refresh_token', error_description: 'Missing Refresh Token' } });
        body.refresh_token = used;
      }
      const r = await post('/oauth/token', body, m.timeout);
      const rt = r.json.refresh_token;
      delete r.json.refresh_token;
      if (r.ok && typeof rt === 'string') {
        r.rotated = !!used && rt !== used;
        if (used) replace(used, rt);
        rts.set(keys[0]!, rt);
      } else if (used && r.json.error === 'invalid_grant') replace(used);
      return reply(r);
    }
    return reply({ ok: false, status: 0, json: { error: 'unknown_message' } });
  });
}

export class TokenWorker {
  private w: Worker;
  constructor(base: string) {
    this.w = new Worker(URL.createObjectURL(new Blob([`(${tokenWorker})()`], { type: 'text/javascript' })));
    this.w.postMessage({ t: 'init', base });
  }

  call(msg: Record<string, unknown>, timeoutMs: number): Promise<PostResult> {
    return new Promise((resolve) => {
      const ch = new MessageChannel();
      const timer = setTimeout(() => {
        ch.port1.close();
        resolve({ ok: false, status: 0, json: { error: 'timeout', error_description: 'Token worker did not answer' } });
      }, timeoutMs);
      ch.port1.onmessage = (e) => {
        clearTimeout(timer);
        ch.port1.close();
        resolve(e.data as PostResult);
      };
      this.w.postMessage(msg, [ch.port2]);
    });
  }
}
