export { Auth0Client, createAuth0Client } from './client.js';
export type {
  GetTokenSilentlyOptions,
  GetTokenSilentlyVerboseResponse,
  LogoutOptions,
  PopupConfigOptions,
  PopupLoginOptions,
  RedirectLoginOptions,
  RedirectLoginResult,
  TokenEventDetail,
} from './client.js';
export type { Auth0ClientOptions, AuthorizationParams } from './options.js';
export type { IdTokenClaims, User } from './jwt.js';
export {
  AuthenticationError,
  GenericError,
  MissingRefreshTokenError,
  PopupCancelledError,
  PopupOpenError,
  PopupTimeoutError,
  TimeoutError,
} from './errors.js';
