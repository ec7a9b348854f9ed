import { postForm, type PostResult } from './http.js';

type PostFn = typeof postForm;

/**
 * Body of the token Web Worker (`cacheLocation: 'memory'` + `useRefreshTokens`). It is shipped
 * inside the bundle and started from a Blob URL as `(${tokenWorker})(${postForm})`, so it must
 * not reference anything outside its own body but `postForm` (self-contained too).
 *
 * Refresh tokens live only in this worker's memory: it strips `refresh_token` from every token
 * response before handing it to the page and injects the stored one into refresh requests. It
 * only ever talks to `<base>/oauth/token` and `<base>/oauth/revoke`; `base` is fixed by the first
 * `init` message, so page script cannot redirect stored tokens elsewhere.
 */
export function tokenWorker(postForm: PostFn): void {
  const rts = new Map<string, string>();
  let base = '';
  /** The refresh token stored last (multi-resource refresh tokens: one serves every API). */
  let latest: string | undefined;
  const replace = (from: string, to?: string): void => {
    for (const [k, v] of rts) if (v === from) to ? rts.set(k, to) : rts.delete(k);
    if (latest === from) latest = to;
  };
  addEventListener('message', async (e: MessageEvent) => {
    const m = e.data ?? {};
    const reply = (v: unknown): void => e.ports[0]?.postMessage(v);
    if (m.t === 'init') {
      if (!base && typeof m.base === 'string') base = m.base;
      return reply({ ok: true });
    }
    if (!base) return reply({ ok: false, json: {} });
    if (m.t === 'clear') {
      for (const k of rts.keys()) if (k !== m.keep) rts.delete(k);
      latest = m.keep ? rts.get(m.keep) : undefined;
      return reply({ ok: true });
    }
    if (m.t === 'seed') {
      rts.set(m.key, (latest = m.rt));
      return reply({ ok: true });
    }
    if (m.t === 'revoke') {
      // Every token stored under a key starting with `under` (all without one), and every
      // entry holding one of them.
      const tokens = new Set<string>();
      for (const [k, v] of rts) if (!m.under || k.startsWith(m.under)) tokens.add(v);
      // With DPoP the page sends one proof per token it may hold (refresh tokens never leave here).
      const proofs: string[] = m.proofs ?? [];
      let res: PostResult = { ok: true, status: 200, json: {} };
      for (const token of tokens) {
        replace(token);
        const r = await postForm(`${base}/oauth/revoke`, { ...m.body, token }, m.timeout, m.json, proofs.shift());
        if (!r.ok) res = r;
      }
      return reply(res);
    }
    if (m.t === 'token') {
      const body: Record<string, string> = { ...m.body };
      const keys: string[] = m.keys;
      let used: string | undefined;
      if (body.grant_type === 'refresh_token') {
        for (const k of keys) if ((used = rts.get(k))) break;
        if (!used && m.mrrt) used = latest;
        if (!used) return reply({ ok: false, status: 0, json: { error: 'missing_refresh_token', error_description: 'Missing Refresh Token' } });
        body.refresh_token = used;
      }
      const r = await postForm(`${base}/oauth/token`, body, m.timeout, m.json, m.dpop);
      const rt = r.json.refresh_token;
      delete r.json.refresh_token;
      if (r.ok && typeof rt === 'string') {
        r.rotated = !!used && rt !== used;
        if (used) replace(used, rt);
        rts.set(keys[0]!, (latest = rt));
      } else if (used && r.json.error === 'invalid_grant') replace(used);
      return reply(r);
    }
  });
}

export class TokenWorker {
  private w: Worker;
  /** Resolves false when the worker could not start (a CSP refusing it, an unreachable `workerUrl`). */
  started: Promise<boolean>;
  /** Throws when the browser refuses the worker outright (e.g. CSP `worker-src` without `blob:`). */
  constructor(base: string, url?: string) {
    this.w = new Worker(url || URL.createObjectURL(new Blob([`(${tokenWorker})(${postForm})`], { type: 'text/javascript' })));
    this.started = new Promise<boolean>((resolve) => {
      this.w.onerror = () => resolve(false);
      void this.ask({ t: 'init', base }, 5000).then((r) => resolve(r.ok));
    });
  }

  ask(msg: Record<string, unknown>, timeoutMs: number): Promise<PostResult> {
    return new Promise((resolve) => {
      const ch = new MessageChannel();
      const done = (r: PostResult): void => {
        clearTimeout(timer);
        ch.port1.close();
        resolve(r);
      };
      const timer = setTimeout(() => done({ ok: false, status: 0, json: { error: 'timeout', error_description: 'Timeout' } }), timeoutMs);
      ch.port1.onmessage = (e) => done(e.data as PostResult);
      this.w.postMessage(msg, [ch.port2]);
    });
  }
}
