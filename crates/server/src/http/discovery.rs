//! OpenID Connect Discovery 1.0 §3–4 (`/.well-known/openid-configuration`) and the JWK Set
//! (RFC 7517 §5, `/.well-known/jwks.json`). Public, with `Access-Control-Allow-Origin: *`.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::app::AppState;

fn public(v: Value) -> Response {
    let mut res = axum::Json(v).into_response();
    res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    res
}

pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    public(json!({
        "issuer": state.iss(),
        "authorization_endpoint": state.endpoint("authorize"),
        "token_endpoint": state.endpoint("oauth/token"),
        "userinfo_endpoint": state.endpoint("userinfo"),
        "jwks_uri": state.endpoint(".well-known/jwks.json"),
        "revocation_endpoint": state.endpoint("oauth/revoke"),
        "end_session_endpoint": state.endpoint("oidc/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post", "web_message"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ratchet_core::jws::SigningAlg::ALL.map(|a| a.as_str()),
        "scopes_supported": ratchet_core::oauth::SUPPORTED_SCOPES,
        "claims_supported": ["aud", "auth_time", "azp", "email", "email_verified", "exp", "iat", "iss", "name", "nickname", "nonce", "sid", "sub", "updated_at"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "prompt_values_supported": ["none", "login"],
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "dpop_signing_alg_values_supported": ratchet_core::dpop::SIGNING_ALGS,
    }))
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    public(state.keys.current().signing.jwks())
}
