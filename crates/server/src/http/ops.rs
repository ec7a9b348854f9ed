//! Operations endpoints: readiness (`/healthz`), Prometheus metrics (`/metrics`), and the JSON
//! answers for unknown paths and (should one ever happen) a panic.

use std::any::Any;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Response as HttpResponse, StatusCode, header};
use axum::response::{IntoResponse, Response};
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
    let mut res = state.audit.render().into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    res
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
