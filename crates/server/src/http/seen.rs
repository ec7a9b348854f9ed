//! Where a request came from (the client's address and `User-Agent`), as recorded on sessions,
//! refresh tokens and audit events. The `User-Agent` is not trusted for any decision; both are
//! capped in length.
//!
//! [`scope`] wraps every request: it resolves the [`ClientAddress`] once (the same one brute-force
//! protection counts), and what it computes is the [`SeenFrom`] of the request's handlers and,
//! through `service::audit::seen_in`, the origin of every audit event the request records.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use ratchet_store::Seen;

use crate::app::AppState;
use crate::http::client_address::ClientAddress;

/// Longest user agent kept (longer ones are cut at a character boundary).
const MAX_USER_AGENT: usize = 256;

/// Extracts a [`Seen`]; never rejects (a request without connection info records no address).
pub struct SeenFrom(pub Seen);

impl<S: Send + Sync> FromRequestParts<S> for SeenFrom {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Seen>() {
            Some(seen) => Ok(SeenFrom(seen.clone())),
            None => Ok(SeenFrom(seen_of(&parts.extensions, &parts.headers))),
        }
    }
}

fn seen_of(extensions: &Extensions, headers: &HeaderMap) -> Seen {
    let ip = extensions.get::<ClientAddress>().map(|ClientAddress(a)| a.to_string());
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|ua| {
        let mut end = ua.len().min(MAX_USER_AGENT);
        while !ua.is_char_boundary(end) {
            end -= 1;
        }
        ua[..end].to_string()
    });
    Seen { ip, user_agent }
}

/// Middleware: serves the request with its [`ClientAddress`] and [`Seen`] in its extensions, and
/// the latter as the origin of the audit events it records.
pub async fn scope(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(client) = ClientAddress::of(req.extensions(), req.headers(), &state.trusted_proxies) {
        req.extensions_mut().insert(client);
    }
    let seen = seen_of(req.extensions(), req.headers());
    req.extensions_mut().insert(seen.clone());
    crate::service::audit::seen_in(seen, next.run(req)).await
}
