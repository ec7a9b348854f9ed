/**
 * Errors carry a stable machine-readable `error` code (OAuth 2.0 / Auth0 spelling) and a human
 * `error_description`. Decide on `error` (or `instanceof`), never on the description text. The
 * classes, their `error` codes and extra fields are those of the Auth0 SPA SDK v2.
 */
export class GenericError extends Error {
  constructor(
    public error: string,
    public error_description: string,
  ) {
    super(error_description);
  }

  static fromPayload({ error, error_description }: { error: string; error_description: string }): GenericError {
    return new GenericError(error, error_description);
  }
}

/** An option or option combination that cannot work (`error: 'invalid_configuration'`). */
export class InvalidConfigurationError extends GenericError {
  constructor(
    message: string,
    public suggestion: string,
  ) {
    super('invalid_configuration', message);
  }
}

/** The authorization server answered the redirect/popup with `error=...`. */
export class AuthenticationError extends GenericError {
  constructor(
    error: string,
    error_description: string,
    public state?: string,
    public appState?: unknown,
  ) {
    super(error, error_description);
  }
}

/** Auth0's connected-accounts flow (My Account API); exported for `instanceof` checks only. */
export class ConnectError extends GenericError {
  constructor(
    error: string,
    error_description: string,
    public connection: string,
    public state: string,
    public appState?: unknown,
  ) {
    super(error, error_description);
  }
}

export class TimeoutError extends GenericError {
  constructor(what = 'Timeout') {
    super('timeout', what);
  }
}

export class PopupTimeoutError extends TimeoutError {
  constructor(public popup: Window) {
    super();
  }
}

export class PopupCancelledError extends GenericError {
  constructor(public popup: Window) {
    super('cancelled', 'Popup closed');
  }
}

export class PopupOpenError extends GenericError {
  constructor() {
    super('popup_open', 'Unable to open a popup: window.open returned null');
  }
}

export interface MfaRequirements {
  enroll?: Array<{ type: string }>;
  challenge?: Array<{ type: string }>;
}

/** The token endpoint answered `mfa_required` (a server with step-up MFA). */
export class MfaRequiredError extends GenericError {
  constructor(
    error: string,
    error_description: string,
    public mfa_token: string,
    public mfa_requirements?: MfaRequirements,
  ) {
    super(error, error_description);
  }
}

export class MissingRefreshTokenError extends GenericError {
  constructor(
    public audience = 'default',
    public scope = '',
  ) {
    super('missing_refresh_token', `Missing Refresh Token (audience: '${audience}', scope: '${scope}')`);
  }
}

/** A multi-resource refresh (`useMrrt`) returned fewer scopes than requested. */
export class MissingScopesError extends GenericError {
  constructor(
    public audience: string,
    public scope: string,
  ) {
    super('missing_scopes', `Missing requested scopes after refresh (audience: '${audience}', missing scope: '${scope}')`);
  }
}

/**
 * DPoP nonce challenge (RFC 9449 §8). With `useDpop` the SDK answers it itself (one retry with the
 * server's nonce), so it reaches the caller only when the retry is refused the same way.
 */
export class UseDpopNonceError extends GenericError {
  constructor(public newDpopNonce: string | undefined) {
    super('use_dpop_nonce', 'Server rejected DPoP proof: wrong nonce');
  }
}

// `name` of each class, for logs (class names do not survive minification).
for (const [n, c] of Object.entries({
  GenericError,
  InvalidConfigurationError,
  AuthenticationError,
  ConnectError,
  TimeoutError,
  PopupTimeoutError,
  PopupCancelledError,
  PopupOpenError,
  MfaRequiredError,
  MissingRefreshTokenError,
  MissingScopesError,
  UseDpopNonceError,
}))
  c.prototype.name = n;

/** Turns an RFC 6749 error body into the matching error class. */
export function errorFromBody(body: Record<string, unknown>, fallback: string): GenericError {
  const text = (v: unknown, otherwise: string): string => (typeof v === 'string' && v ? v : otherwise);
  const error = text(body.error, 'request_error');
  const desc = text(body.error_description, fallback);
  if (error === 'missing_refresh_token') return new MissingRefreshTokenError();
  if (error === 'timeout') return new TimeoutError(desc);
  if (error === 'mfa_required') return new MfaRequiredError(error, desc, String(body.mfa_token ?? ''), body.mfa_requirements as MfaRequirements);
  return new GenericError(error, desc);
}
