export { Auth0Client, createAuth0Client } from './client.js';
export type {
  ClientConfiguration,
  ClientEvents,
  ExpiringEventDetail,
  GetTokenSilentlyOptions,
  GetTokenSilentlyVerboseResponse,
  GetTokenWithPopupOptions,
  LogoutOptions,
  PopupConfigOptions,
  PopupLoginOptions,
  RedirectLoginOptions,
  RedirectLoginResult,
  RevokeRefreshTokenOptions,
  TokenEventDetail,
} from './client.js';
export type { Auth0ClientOptions, AuthorizationParams, ClientAuthorizationParams } from './options.js';
export { User } from './jwt.js';
export type { IdTokenClaims, IdTokenClaims as IdToken } from './jwt.js';
export { CacheKey, InMemoryCache, LocalStorageCache } from './cache.js';
export type { Cacheable, CacheEntry, CacheKeyData, DecodedToken, ICache, KeyManifestEntry, MaybePromise, WrappedCacheEntry } from './cache.js';
export type { DpopProofParams, Fetcher, FetcherConfig, FetcherToken } from './dpop.js';
export {
  AuthenticationError,
  ConnectError,
  GenericError,
  InvalidConfigurationError,
  MfaRequiredError,
  MissingRefreshTokenError,
  MissingScopesError,
  PopupCancelledError,
  PopupOpenError,
  PopupTimeoutError,
  TimeoutError,
  UseDpopNonceError,
} from './errors.js';
export type { MfaRequirements } from './errors.js';
export type { AuthorizationResponse as AuthenticationResult } from './frame.js';
export type { TokenResponse as TokenEndpointResponse } from './http.js';
export type { ActClaim } from './jwt.js';

export type CacheLocation = 'memory' | 'localstorage';
/** `/authorize` parameters as the SDK sends them. */
export type AuthorizeOptions = import('./options.js').AuthorizationParams & { response_type: string; response_mode?: string; state: string; nonce: string; code_challenge: string; code_challenge_method: string };
/** The logout URL options (without the navigation hook). */
export type LogoutUrlOptions = Omit<import('./client.js').LogoutOptions, 'openUrl' | 'onRedirect'>;
