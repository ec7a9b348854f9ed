//! `GET|POST /userinfo`: OIDC Core §5.3, bearer tokens per RFC 6750 §2.1.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use ratchet_core::oauth::Scope;
use serde_json::{Map, Value};

use crate::app::AppState;
use crate::error::OAuthError;
use crate::http::cors;
use crate::service::tokens::profile_claims;

pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let res = match handle(&state, &headers).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    };
    cors::decorate(&state, &headers, None, res).await
}

async fn handle(state: &AppState, headers: &HeaderMap) -> Result<Value, OAuthError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or_else(|| {
            let mut e = OAuthError::new(axum::http::StatusCode::UNAUTHORIZED, "invalid_request", "Missing bearer token");
            e.challenge = Some("Bearer realm=\"ratchet\"".into());
            e
        })?;
    let invalid = || OAuthError::invalid_token("The access token is invalid or expired");
    let now = state.now();
    let (sub, scope) = if token.matches('.').count() == 2 {
        let claims = state.keys.signing.verify(token).ok_or_else(invalid)?;
        let userinfo = state.endpoint("userinfo");
        let aud_ok = match &claims["aud"] {
            Value::String(a) => *a == userinfo,
            Value::Array(a) => a.iter().any(|x| x.as_str() == Some(userinfo.as_str())),
            _ => false,
        };
        let live = claims["exp"].as_i64().is_some_and(|e| e > now) && claims["iss"].as_str() == Some(state.iss());
        if !aud_ok || !live {
            return Err(invalid());
        }
        (claims["sub"].as_str().ok_or_else(invalid)?.to_string(), claims["scope"].as_str().unwrap_or("").to_string())
    } else {
        let c = state.open_opaque(token).ok_or_else(invalid)?;
        if !state.store.grant_is_live(&c.gid).await? {
            return Err(invalid());
        }
        (c.sub, c.scp)
    };
    let user = state.store.user(&sub).await?.filter(|u| !u.blocked).ok_or_else(invalid)?;
    let scope = Scope::parse(&scope).map_err(|_| invalid())?;
    if !scope.contains("openid") {
        return Err(OAuthError::new(axum::http::StatusCode::FORBIDDEN, "insufficient_scope", "The openid scope is required"));
    }
    let mut out = Map::new();
    out.insert("sub".into(), user.user_id.clone().into());
    for (k, v) in profile_claims(&user, &scope) {
        out.insert(k.into(), v);
    }
    Ok(Value::Object(out))
}
