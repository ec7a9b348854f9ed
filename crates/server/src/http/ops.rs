//! Operations endpoints: readiness (`/healthz`), Prometheus metrics (`/metrics`), and the JSON
//! answers for unknown paths and (should one ever happen) a panic.

use std::any::Any;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Response as HttpResponse, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ratchet_core::secret::ct_eq;
use serde_json::json;

use crate::app::AppState;
use crate::error::OAuthError;

pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => axum::Json(json!({"status": "ok"})).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "unavailable", "store": e.to_string()}))).into_response(),
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.audit.render();
    // Group commit of rotations (see `ratchet_store::group_commit`): rotations per commit is the
    // ratio of the two counters.
    let b = state.store.rotation_batches();
    text.push_str(&format!(
        "# HELP ratchet_rotation_commits_total Commits (transactions or statements) that carried refresh-token rotations.\n\
         # TYPE ratchet_rotation_commits_total counter\nratchet_rotation_commits_total {}\n\
         # HELP ratchet_rotations_committed_total Refresh-token rotation attempts carried by those commits.\n\
         # TYPE ratchet_rotations_committed_total counter\nratchet_rotations_committed_total {}\n\
         # HELP ratchet_rotation_batch_largest Most rotations one commit carried since start.\n\
         # TYPE ratchet_rotation_batch_largest gauge\nratchet_rotation_batch_largest {}\n",
        b.commits, b.rotations, b.largest
    ));
    let mut res = text.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    res
}

/// Headers on every response: `X-Content-Type-Options: nosniff` (no browser guesses a JSON or
/// text answer to be HTML or script), and HSTS (RFC 6797 §6.1) when the issuer is https, so a
/// browser never reaches the authorization server over plain http again.
pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if state.issuer.scheme() == "https" {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    res
}

/// `/metrics` answers only with `Authorization: Bearer <--metrics-token>` when a token is
/// configured (compared in constant time).
pub async fn metrics_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(expected) = &state.metrics_token {
        let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| ct_eq(g.as_bytes(), expected.expose().as_bytes())) {
            let mut e = OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_token", "The metrics token is missing or wrong");
            e.challenge = Some("Bearer realm=\"ratchet-metrics\"".into());
            return e.into_response();
        }
    }
    next.run(req).await
}

pub async fn not_found() -> Response {
    OAuthError::new(StatusCode::NOT_FOUND, "not_found", "Not found").into_response()
}

pub async fn method_not_allowed() -> Response {
    OAuthError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed").into_response()
}

pub fn panic_response(_err: Box<dyn Any + Send + 'static>) -> HttpResponse<Body> {
    tracing::error!("a request handler panicked");
    OAuthError::server_error().into_response()
}
