//! Where a request came from (peer address and `User-Agent`), as recorded on sessions, refresh
//! tokens and audit events. Neither is trusted for any decision; both are capped in length.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use ratchet_store::Seen;

/// Longest user agent kept (longer ones are cut at a character boundary).
const MAX_USER_AGENT: usize = 256;

/// Extracts a [`Seen`]; never rejects (a request without connection info records no address).
pub struct SeenFrom(pub Seen);

impl<S: Send + Sync> FromRequestParts<S> for SeenFrom {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip().to_string());
        let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|ua| {
            let mut end = ua.len().min(MAX_USER_AGENT);
            while !ua.is_char_boundary(end) {
                end -= 1;
            }
            ua[..end].to_string()
        });
        Ok(SeenFrom(Seen { ip, user_agent }))
    }
}
