//! CORS for `/oauth/token`, `/oauth/revoke` and `/userinfo` (Fetch standard): only origins that a
//! client registered (Allowed Web Origins or the origin of an Allowed Callback URL) are allowed.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ratchet_core::audit::EventType;
use ratchet_core::client::Client;
use serde_json::json;

use crate::app::AppState;
use crate::service::audit::Record;

pub const ALLOWED_HEADERS: &str = "Auth0-Client, Content-Type, DPoP, Authorization";

pub fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// Whether any registered client allows `origin`.
pub async fn any_client_allows(state: &AppState, origin: &str) -> bool {
    match state.store.clients().await {
        Ok(clients) => clients.iter().any(|c| c.allows_origin(origin)),
        Err(_) => false,
    }
}

/// `OPTIONS` preflight.
pub async fn preflight(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(o) = origin(&headers) else { return StatusCode::NO_CONTENT.into_response() };
    if !any_client_allows(&state, o).await {
        state
            .record(Record {
                kind: EventType::OriginNotAllowed,
                description: "Origin not allowed",
                client_id: None,
                user_id: None,
                details: json!({"origin": o}),
            })
            .await;
        return StatusCode::FORBIDDEN.into_response();
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    allow(h, o);
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST, GET, OPTIONS"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOWED_HEADERS));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    res
}

/// Adds the headers that let `origin` read the response.
pub fn allow(h: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("DPoP-Nonce"));
    }
}

/// Decorates `res` for a cross-origin caller: allowed when the identified client registered the
/// origin, or (when the client is unknown, e.g. failed authentication) when any client did.
pub async fn decorate(state: &AppState, headers: &HeaderMap, client: Option<&Client>, mut res: Response) -> Response {
    if let Some(o) = origin(headers) {
        let allowed = match client {
            Some(c) => c.allows_origin(o),
            None => any_client_allows(state, o).await,
        };
        if allowed {
            allow(res.headers_mut(), o);
        }
    }
    res
}
