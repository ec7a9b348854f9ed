const encoder = new TextEncoder();

/** base64url without padding (RFC 4648 §5). */
export const b64url = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/** Decodes base64url (padded or not: `atob` accepts both) into a UTF-8 string. */
export const b64urlDecode = (input: string): string => new TextDecoder().decode(Uint8Array.from(atob(input.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)));

/** 256 bits from WebCrypto, base64url: 43 chars from the RFC 7636 unreserved set. */
export const randomString = (): string => b64url(crypto.getRandomValues(new Uint8Array(32)));

/** PKCE S256 code challenge: base64url(SHA-256(ascii(verifier))). */
export async function pkceChallenge(verifier: string): Promise<string> {
  return b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(verifier))));
}

/** Merges scope strings, de-duplicated, order of first appearance kept. */
export function uniqueScopes(...scopes: (string | undefined)[]): string {
  return [...new Set(scopes.filter(Boolean).join(' ').split(/\s+/).filter(Boolean))].join(' ');
}

/** URL query from an object, dropping undefined/null values. */
export function toQuery(params: Record<string, unknown>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.append(k, String(v));
  return q.toString();
}

/** A console warning of this SDK. */
export const warn = (m: string): void => console.warn(`@ratchet/spa-js: ${m}`);
