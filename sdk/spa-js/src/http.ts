import { errorFromBody } from './errors.js';

export interface TokenResponse {
  access_token: string;
  id_token?: string;
  token_type?: string;
  expires_in: number;
  scope?: string;
  refresh_token?: string;
  [k: string]: unknown;
}

export interface PostResult {
  ok: boolean;
  status: number;
  json: Record<string, unknown>;
  /** Set by the worker: the response carried a refresh token different from the one presented. */
  rotated?: boolean;
  /** The `DPoP-Nonce` response header (RFC 9449 §8). */
  nonce?: string | null;
}

/**
 * One POST, form-encoded (or JSON when `json`), bounded by `timeoutMs`. Never retried: a
 * refresh_token or authorization_code grant is not idempotent, and with rotation (leeway 0) a
 * blind retry of a refresh whose response was lost is indistinguishable from token theft.
 */
export async function postForm(url: string, body: Record<string, string>, timeoutMs: number, asJson?: boolean, dpop?: string): Promise<PostResult> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': asJson ? 'application/json' : 'application/x-www-form-urlencoded', ...(dpop && { DPoP: dpop }) },
      body: asJson ? JSON.stringify(body) : new URLSearchParams(body),
      signal: ac.signal,
    });
    const text = await r.text();
    let json: Record<string, unknown> = {};
    try {
      const parsed: unknown = text ? JSON.parse(text) : {};
      if (parsed && typeof parsed === 'object') json = parsed as Record<string, unknown>;
    } catch {
      if (r.ok) json = { error: 'invalid_response', error_description: `Non-JSON response from ${url}` };
    }
    return { ok: r.ok && !json.error, status: r.status, json, nonce: r.headers.get('dpop-nonce') };
  } catch (e) {
    const timeout = (e as Error)?.name === 'AbortError';
    return {
      ok: false,
      status: 0,
      json: { error: timeout ? 'timeout' : 'request_error', error_description: timeout ? `Timeout fetching ${url}` : String((e as Error)?.message ?? e) },
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Throws the matching GenericError for a failed result, returns the token response otherwise. */
export function tokenResult(r: PostResult, url: string): TokenResponse {
  if (!r.ok) throw errorFromBody(r.json, `HTTP error ${r.status}. Unable to fetch ${url}`);
  const j = r.json as TokenResponse;
  if (typeof j.access_token !== 'string' || !(Number(j.expires_in) > 0)) {
    throw errorFromBody({ error: 'invalid_response' }, 'Invalid token response');
  }
  return j;
}
