//! The one error type of the HTTP layer.
//!
//! Policy: every failure a client can cause is an [`OAuthError`] rendered as an RFC 6749 §5.2 JSON
//! body (`{error, error_description}`) with its status; store outages are `503
//! temporarily_unavailable`; anything else unexpected is a logged `500 server_error` whose body says
//! nothing about the cause. Errors of `/authorize` that cannot be redirected are HTML pages
//! ([`crate::http::pages::error_page`]).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ratchet_store::StoreError;
use serde_json::json;

#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// `WWW-Authenticate` challenge (RFC 6749 §5.2 for Basic, RFC 6750 §3 for Bearer).
    pub challenge: Option<String>,
    /// `Retry-After` seconds, for throttling.
    pub retry_after: Option<u64>,
}

/// The exact answer for every refresh-token failure about the token itself (Auth0's wording).
pub const INVALID_REFRESH_TOKEN: &str = "Unknown or invalid refresh token.";

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError { status, error, description: description.into(), challenge: None, retry_after: None }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }
    pub fn missing(param: &str) -> Self {
        Self::invalid_request(format!("Missing required parameter: {param}"))
    }
    pub fn invalid_client(d: impl Into<String>, basic: bool) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "invalid_client", d);
        if basic {
            e.challenge = Some("Basic realm=\"ratchet\"".into());
        }
        e
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
    }
    /// `403 invalid_grant "Unknown or invalid refresh token."`
    pub fn invalid_refresh_token() -> Self {
        Self::new(StatusCode::FORBIDDEN, "invalid_grant", INVALID_REFRESH_TOKEN)
    }
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "unauthorized_client", d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", d)
    }
    pub fn access_denied(d: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "access_denied", d)
    }
    pub fn invalid_token(d: impl Into<String>) -> Self {
        let d = d.into();
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "invalid_token", d.clone());
        e.challenge = Some(format!("Bearer error=\"invalid_token\", error_description=\"{}\"", d.replace('"', "'")));
        e
    }
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", "Too many attempts. Try again later.");
        e.retry_after = Some(retry_after);
        e
    }
    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "The service is temporarily unavailable.")
    }
    pub fn server_error() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "Internal error.")
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(msg) => {
                tracing::warn!(%msg, "store unavailable");
                OAuthError::unavailable()
            }
            other => {
                tracing::error!(error = %other, "store failure");
                OAuthError::server_error()
            }
        }
    }
}

impl From<ratchet_core::CoreError> for OAuthError {
    fn from(e: ratchet_core::CoreError) -> Self {
        match e {
            ratchet_core::CoreError::Invalid(m) => OAuthError::invalid_request(m),
            ratchet_core::CoreError::Crypto(m) => {
                tracing::error!(error = m, "crypto failure");
                OAuthError::server_error()
            }
        }
    }
}

impl From<axum::extract::rejection::BytesRejection> for OAuthError {
    fn from(e: axum::extract::rejection::BytesRejection) -> Self {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return OAuthError::new(status, "invalid_request", "Request body too large");
        }
        OAuthError::new(
            if status.is_server_error() { StatusCode::BAD_REQUEST } else { status },
            "invalid_request",
            "Unreadable request body",
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut res = (self.status, axum::Json(json!({"error": self.error, "error_description": self.description}))).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(c) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            h.insert(header::WWW_AUTHENTICATE, c);
        }
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }
}

pub type ApiResult<T> = Result<T, OAuthError>;
