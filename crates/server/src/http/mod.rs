//! The HTTP layer. The router below is the table of contents of the server.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use crate::app::AppState;

pub mod admin;
pub mod authorize;
pub mod client_address;
pub mod cookies;
pub mod cors;
pub mod discovery;
pub mod login;
pub mod logout;
pub mod management;
pub mod ops;
pub mod pages;
pub mod params;
pub mod revoke;
pub mod seen;
pub mod token;
pub mod userinfo;

/// Largest request body accepted anywhere (token requests are a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        // Sign-in (browser)
        .route("/authorize", get(authorize::authorize).post(authorize::authorize_post))
        .route("/u/login", get(login::page).post(login::submit))
        .route("/v2/logout", get(logout::auth0_logout).post(logout::confirm))
        .route("/oidc/logout", get(logout::oidc_logout).post(logout::confirm))
        // Tokens (CORS for registered web origins)
        .route("/oauth/token", post(token::token).options(cors::preflight))
        .route("/oauth/revoke", post(revoke::revoke).options(cors::preflight))
        .route("/userinfo", get(userinfo::userinfo).post(userinfo::userinfo).options(cors::preflight))
        // Discovery (public)
        .route("/.well-known/openid-configuration", get(discovery::openid_configuration))
        .route("/.well-known/jwks.json", get(discovery::jwks))
        // Management API (Auth0's /api/v2)
        .nest("/api/v2", management::router(&state))
        // The admin console (a client of the routes above)
        .route("/admin", get(admin::redirect))
        .route("/admin/", get(admin::index))
        .route("/admin/{file}", get(admin::file))
        // Operations
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics).route_layer(axum::middleware::from_fn_with_state(state.clone(), ops::metrics_guard)))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(state.clone(), seen::scope))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(CatchPanicLayer::custom(ops::panic_response))
        .layer(axum::middleware::from_fn_with_state(state.clone(), ops::security_headers))
        .with_state(state)
}
