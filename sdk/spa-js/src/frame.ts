import { PopupCancelledError, PopupTimeoutError, TimeoutError } from './errors.js';

export interface AuthorizationResponse {
  code?: string;
  state?: string;
  error?: string;
  error_description?: string;
  /** The issuer of the response (RFC 9207), when the server names it. */
  iss?: string;
}

/**
 * Waits for the `web_message` response posted by the authorization server page in `source()`.
 * Only messages from `origin` (the server origin), from that very window, with
 * `data.type === 'authorization_response'` and an object `response` are accepted.
 */
function listen(
  origin: string,
  source: () => Window | null,
  timeoutMs: number,
  onTimeout: () => Error,
  poll?: () => Error | undefined,
): Promise<AuthorizationResponse> {
  return new Promise<AuthorizationResponse>((resolve, reject) => {
    /** Settles the promise with `settle(v)` and stops listening. */
    const done = <T>(settle: (v: T) => void, v: T): void => {
      clearTimeout(timer);
      clearInterval(interval);
      removeEventListener('message', onMessage);
      settle(v);
    };
    const onMessage = (e: MessageEvent): void => {
      const r = e.data?.response;
      if (r && typeof r === 'object' && e.data.type === 'authorization_response' && e.origin === origin && e.source === source()) done(resolve, r as AuthorizationResponse);
    };
    const timer = setTimeout(() => done(reject, onTimeout()), timeoutMs);
    const interval =
      poll &&
      setInterval(() => {
        const err = poll();
        if (err) done(reject, err);
      }, 1000);
    addEventListener('message', onMessage);
  });
}

/** Silent authentication: `/authorize?prompt=none&response_mode=web_message` in a hidden iframe. */
export async function runIframe(url: string, origin: string, timeoutSeconds: number): Promise<AuthorizationResponse> {
  const frame = document.createElement('iframe');
  frame.setAttribute('aria-hidden', 'true');
  frame.style.display = 'none';
  const l = listen(origin, () => frame.contentWindow, timeoutSeconds * 1000, () => new TimeoutError());
  document.body.appendChild(frame);
  frame.src = url;
  try {
    return await l;
  } finally {
    // Removing the frame right away leaves Chrome's spinner running; do it a little later.
    setTimeout(() => frame.remove(), 2000);
  }
}

export async function runPopup(popup: Window, url: string, origin: string, timeoutSeconds: number, close: boolean): Promise<AuthorizationResponse> {
  const l = listen(
    origin,
    () => popup,
    timeoutSeconds * 1000,
    () => new PopupTimeoutError(popup),
    () => (popup.closed ? new PopupCancelledError(popup) : undefined),
  );
  popup.location.href = url;
  try {
    return await l;
  } finally {
    if (close) popup.close();
  }
}
