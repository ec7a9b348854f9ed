import { uniqueScopes } from './util.js';

export interface AuthorizationParams {
  redirect_uri?: string;
  audience?: string;
  scope?: string;
  max_age?: number | string;
  prompt?: 'none' | 'login' | 'consent' | 'select_account';
  organization?: string;
  login_hint?: string;
  screen_hint?: string;
  ui_locales?: string;
  connection?: string;
  /** Any other parameter is passed through to `/authorize`. */
  [key: string]: unknown;
}

export interface Auth0ClientOptions {
  /** `tenant.example.com` (https assumed) or a full base URL such as `http://127.0.0.1:3000`. */
  domain: string;
  clientId?: string;
  /** Auth0 SPA SDK v1 spelling of `clientId`. */
  client_id?: string;
  /** Expected `iss`. Default `<domain origin+path>/`. A value with an explicit scheme is used verbatim. */
  issuer?: string;
  authorizationParams?: AuthorizationParams;
  /** v1 spelling of `authorizationParams.redirect_uri`. */
  redirect_uri?: string;
  /** v1 spelling of `authorizationParams.audience`. */
  audience?: string;
  /** v1 spelling of `authorizationParams.scope`. */
  scope?: string;
  cacheLocation?: 'memory' | 'localstorage';
  useRefreshTokens?: boolean;
  useRefreshTokensFallback?: boolean;
  /** Silent-auth iframe and popup timeout. Default 60. */
  authorizeTimeoutInSeconds?: number;
  /** Timeout of each token/revoke request. Default 10. */
  httpTimeoutInSeconds?: number;
  /** Clock leeway for ID-token `exp`, `iat`, `nbf`, `auth_time`. Default 60. */
  leeway?: number;
  /** How long the "was signed in" hint that lets `checkSession` try silently lives. Default 1. */
  sessionCheckExpiryDays?: number;
}

export interface NormalizedOptions {
  domainUrl: string;
  issuer: string;
  clientId: string;
  authorizationParams: AuthorizationParams & { redirect_uri: string; scope: string };
  cacheLocation: 'memory' | 'localstorage';
  useRefreshTokens: boolean;
  useRefreshTokensFallback: boolean;
  authorizeTimeoutInSeconds: number;
  httpTimeoutInSeconds: number;
  leeway: number;
  sessionCheckExpiryDays: number;
}

const hasScheme = (s: string): boolean => /^https?:\/\//i.test(s);

/** `domain` → base URL: https:// added when no scheme is given, trailing slashes removed. */
export function domainToUrl(domain: string): string {
  const d = domain.trim().replace(/\/+$/, '');
  return hasScheme(d) ? d : `https://${d}`;
}

/** Expected ID-token issuer: `<base URL>/` unless given; http issuers are accepted verbatim. */
export function expectedIssuer(domainUrl: string, issuer?: string): string {
  if (!issuer) return `${domainUrl}/`;
  if (hasScheme(issuer)) return issuer;
  return `https://${issuer.replace(/\/+$/, '')}/`;
}

export const DEFAULT_SCOPE = 'openid profile email';

/** Final scope for a request: `openid` + client scope + call scope (+ `offline_access`). */
export function resolveScope(useRefreshTokens: boolean, clientScope?: string, callScope?: string): string {
  return uniqueScopes('openid', clientScope ?? DEFAULT_SCOPE, callScope, useRefreshTokens ? 'offline_access' : undefined);
}

const positive = (v: number | undefined, d: number): number => (typeof v === 'number' && v >= 0 && isFinite(v) ? v : d);

function cacheLocation(c: unknown): 'memory' | 'localstorage' {
  if (c === undefined || c === 'memory' || c === 'localstorage') return c ?? 'memory';
  throw new TypeError(`Invalid cache location "${String(c)}"`);
}

export function normalizeOptions(o: Auth0ClientOptions, origin: string): NormalizedOptions {
  if (!o || typeof o.domain !== 'string' || !o.domain.trim()) throw new TypeError('`domain` is required');
  const clientId = o.clientId ?? o.client_id;
  if (typeof clientId !== 'string' || !clientId) throw new TypeError('`clientId` (or `client_id`) is required');
  const domainUrl = domainToUrl(o.domain);
  const useRefreshTokens = !!o.useRefreshTokens;
  const ap: AuthorizationParams = { ...o.authorizationParams };
  // v1 top-level spellings fill what v2 authorizationParams do not set.
  if (ap.redirect_uri === undefined && o.redirect_uri !== undefined) ap.redirect_uri = o.redirect_uri;
  if (ap.audience === undefined && o.audience !== undefined) ap.audience = o.audience;
  if (ap.scope === undefined && o.scope !== undefined) ap.scope = o.scope;
  return {
    domainUrl,
    issuer: expectedIssuer(domainUrl, o.issuer),
    clientId,
    authorizationParams: {
      ...ap,
      redirect_uri: ap.redirect_uri ?? origin,
      scope: resolveScope(useRefreshTokens, ap.scope),
    },
    cacheLocation: cacheLocation(o.cacheLocation),
    useRefreshTokens,
    useRefreshTokensFallback: !!o.useRefreshTokensFallback,
    authorizeTimeoutInSeconds: positive(o.authorizeTimeoutInSeconds, 60),
    httpTimeoutInSeconds: positive(o.httpTimeoutInSeconds, 10),
    leeway: positive(o.leeway, 60),
    sessionCheckExpiryDays: positive(o.sessionCheckExpiryDays, 1),
  };
}
