import type { ICache } from './cache.js';
import { uniqueScopes, warn } from './util.js';

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

/** Client-level parameters: `scope` may also be given per audience (`{ [audience]: scope, default }`). */
export interface ClientAuthorizationParams extends Omit<AuthorizationParams, 'scope'> {
  scope?: string | Record<string, string>;
}

export interface Auth0ClientOptions {
  /** `tenant.example.com` (https assumed) or a full base URL such as `http://127.0.0.1:3000`. */
  domain: string;
  clientId?: string;
  /** Auth0 SPA SDK v1 spelling of `clientId`. */
  client_id?: string;
  /** Expected `iss`. Default `<domain origin+path>/`. A value with an explicit scheme is used verbatim. */
  issuer?: string;
  authorizationParams?: ClientAuthorizationParams;
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
  /** Your own token store (Auth0's `ICache`); replaces `cacheLocation`. See the README on tabs. */
  cache?: ICache;
  /** Load the token worker from this same-origin URL (`dist/ratchet-spa.worker.js`) instead of a Blob URL. */
  workerUrl?: string;
  /** Current time in milliseconds, for ID-token checks and cache expiry. Default `Date.now`. */
  nowProvider?: () => Promise<number> | number;
  /** `false`: token and revoke requests are sent as JSON instead of form-encoded. Default true. */
  useFormData?: boolean;
  /** Keep the redirect transaction in a cookie (so the callback may open in another tab). */
  useCookiesForTransactions?: boolean;
  /** `Domain` of the transaction cookie. */
  cookieDomain?: string;
  /** Multi-resource refresh tokens: one refresh token for every API the server's policy allows. */
  useMrrt?: boolean;
  /**
   * Refresh access tokens this many seconds before they expire (`true`: 60), while the page is
   * visible; across tabs one refresh serves all.
   */
  autoRenew?: boolean | number;
  /** DPoP (RFC 9449): bind tokens to a non-extractable key of this browser. Default false. */
  useDpop?: boolean;
}

export interface NormalizedOptions {
  domain: string;
  domainUrl: string;
  issuer: string;
  clientId: string;
  authorizationParams: AuthorizationParams & { redirect_uri: string; scope: string };
  /** `authorizationParams.scope` given per audience (not yet resolved). */
  scopes?: Record<string, string>;
  cache?: ICache;
  workerUrl?: string;
  nowProvider: () => Promise<number> | number;
  useFormData: boolean;
  useCookiesForTransactions: boolean;
  cookieDomain?: string;
  useMrrt: boolean;
  /** Seconds before expiry; 0 = off. */
  autoRenew: number;
  cacheLocation: 'memory' | 'localstorage';
  useRefreshTokens: boolean;
  useRefreshTokensFallback: boolean;
  authorizeTimeoutInSeconds: number;
  httpTimeoutInSeconds: number;
  leeway: number;
  sessionCheckExpiryDays: number;
  useDpop?: boolean;
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

/**
 * Final scope for a request: `openid` + client scope + call scope (+ `offline_access`). A client
 * scope given per audience contributes the entry of `audience`, else its `default` entry.
 */
export function resolveScope(useRefreshTokens: boolean, clientScope?: string | Record<string, string>, callScope?: string, audience?: string): string {
  const c = typeof clientScope === 'object' ? (clientScope[audience || 'default'] ?? clientScope.default ?? '') : clientScope;
  return uniqueScopes('openid', c ?? DEFAULT_SCOPE, callScope, useRefreshTokens ? 'offline_access' : undefined);
}

/** A positive number of seconds, else the default (so `0`, as in Auth0's SDK, means the default). */
export const positive = (v: unknown, d: number): number => (Number.isFinite(v) && (v as number) > 0 ? (v as number) : d);

/** Every option key this SDK reads. */
export const OPTION_KEYS =
  'domain clientId client_id issuer authorizationParams redirect_uri audience scope cacheLocation useRefreshTokens useRefreshTokensFallback authorizeTimeoutInSeconds httpTimeoutInSeconds leeway sessionCheckExpiryDays cache workerUrl nowProvider useFormData useCookiesForTransactions cookieDomain useMrrt autoRenew useDpop'.split(
    ' ',
  );

const warned = new Set<string>();

/**
 * One console warning per option name (per page) for an option this SDK does not read: unknown,
 * or an Auth0 option for an Auth0-only feature (see the README). `undefined` and `false` values
 * change nothing and are not reported.
 */
export function warnUnsupported(o: object): void {
  for (const [k, v] of Object.entries(o)) {
    if (OPTION_KEYS.includes(k) || v === undefined || v === false || warned.has(k)) continue;
    warned.add(k);
    warn(`option "${k}" is not supported; ignored`);
  }
}

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
  warnUnsupported(o);
  const { scope: apScope, ...apRest } = o.authorizationParams ?? {};
  const scopes = apScope && typeof apScope === 'object' ? apScope : undefined;
  const ap: AuthorizationParams = { ...apRest, scope: scopes ? undefined : (apScope as string | undefined) };
  // v1 top-level spellings fill what v2 authorizationParams do not set.
  ap.redirect_uri ??= o.redirect_uri;
  ap.audience ??= o.audience;
  ap.scope ??= o.scope;
  const autoRenew = o.autoRenew === true ? 60 : positive(o.autoRenew, 0);
  return {
    // Options used as given (`domain`, `cache`, `workerUrl`, `cookieDomain`, `useDpop`, …); those
    // below are defaulted, coerced or derived.
    ...o,
    domainUrl,
    issuer: expectedIssuer(domainUrl, o.issuer),
    clientId,
    authorizationParams: {
      ...ap,
      redirect_uri: ap.redirect_uri ?? origin,
      scope: resolveScope(useRefreshTokens, scopes ?? ap.scope, undefined, ap.audience),
    },
    scopes,
    nowProvider: typeof o.nowProvider === 'function' ? o.nowProvider : Date.now,
    useFormData: o.useFormData !== false,
    useCookiesForTransactions: !!o.useCookiesForTransactions,
    useMrrt: !!o.useMrrt,
    autoRenew,
    cacheLocation: cacheLocation(o.cacheLocation),
    useRefreshTokens,
    useRefreshTokensFallback: !!o.useRefreshTokensFallback,
    authorizeTimeoutInSeconds: positive(o.authorizeTimeoutInSeconds, 60),
    httpTimeoutInSeconds: positive(o.httpTimeoutInSeconds, 10),
    leeway: positive(o.leeway, 60),
    sessionCheckExpiryDays: positive(o.sessionCheckExpiryDays, 1),
  };
}
