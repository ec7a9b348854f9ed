/**
 * Errors carry a stable machine-readable `error` code (OAuth 2.0 / Auth0 spelling) and a human
 * `error_description`. Decide on `error`, never on the description text.
 */
export class GenericError extends Error {
  constructor(
    public error: string,
    public error_description: string,
  ) {
    super(error_description);
    this.name = 'GenericError';
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
    this.name = 'AuthenticationError';
  }
}

export class TimeoutError extends GenericError {
  constructor(what = 'Timeout') {
    super('timeout', what);
    this.name = 'TimeoutError';
  }
}

export class PopupTimeoutError extends TimeoutError {
  constructor(public popup: Window) {
    super();
    this.name = 'PopupTimeoutError';
  }
}

export class PopupCancelledError extends GenericError {
  constructor(public popup: Window) {
    super('cancelled', 'Popup closed');
    this.name = 'PopupCancelledError';
  }
}

export class PopupOpenError extends GenericError {
  constructor() {
    super('popup_open', 'Unable to open a popup for loginWithPopup - window.open returned `null`');
    this.name = 'PopupOpenError';
  }
}

export class MissingRefreshTokenError extends GenericError {
  constructor(
    public audience = 'default',
    public scope = '',
  ) {
    super('missing_refresh_token', `Missing Refresh Token (audience: '${audience}', scope: '${scope}')`);
    this.name = 'MissingRefreshTokenError';
  }
}

/** Turns an RFC 6749 error body into the matching error class. */
export function errorFromBody(body: { error?: unknown; error_description?: unknown }, fallback: string): GenericError {
  const error = typeof body.error === 'string' && body.error ? body.error : 'request_error';
  const desc = typeof body.error_description === 'string' && body.error_description ? body.error_description : fallback;
  if (error === 'missing_refresh_token') return new MissingRefreshTokenError();
  if (error === 'timeout') return new TimeoutError(desc);
  return new GenericError(error, desc);
}
