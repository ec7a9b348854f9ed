//! `GET|POST /userinfo`: OIDC Core §5.3, bearer tokens per RFC 6750 §2.1, DPoP-bound tokens per
//! RFC 9449 §7 (`Authorization: DPoP <token>` with a proof carrying `ath`).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use ratchet_core::oauth::Scope;
use serde_json::{Map, Value};

use crate::app::AppState;
use crate::error::OAuthError;
use crate::http::cors;
use crate::service::tokens::{GRANT_CLAIM, profile_claims};

pub async fn userinfo(State(state): State<AppState>, method: Method, headers: HeaderMap) -> Response {
    let mut res = match handle(&state, &method, &headers).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    };
    // Claims about the user: no cache may keep them (OIDC Core §5.3.2 answers are personal data).
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    state.add_dpop_nonce(&mut res);
    cors::decorate(&state, &headers, None, res).await
}

/// The access token of `Authorization: Bearer|DPoP <token>`, with whether the scheme is DPoP.
fn access_token(headers: &HeaderMap) -> Option<(&str, bool)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    let dpop = if scheme.eq_ignore_ascii_case("dpop") {
        true
    } else if scheme.eq_ignore_ascii_case("bearer") {
        false
    } else {
        return None;
    };
    Some((token.trim(), dpop))
}

async fn handle(state: &AppState, method: &Method, headers: &HeaderMap) -> Result<Value, OAuthError> {
    let (token, dpop_scheme) = access_token(headers).ok_or_else(|| {
        let mut e = OAuthError::new(axum::http::StatusCode::UNAUTHORIZED, "invalid_request", "Missing bearer token");
        e.challenge = Some("Bearer realm=\"ratchet\"".into());
        e
    })?;
    let invalid = || OAuthError::invalid_token("The access token is invalid or expired");
    let now = state.now();
    let (sub, scope, jkt, grant) = if token.matches('.').count() == 2 {
        let claims = state.keys.current().signing.verify(token).ok_or_else(invalid)?;
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
        let jkt = claims["cnf"]["jkt"].as_str().map(str::to_string);
        let grant = claims[GRANT_CLAIM].as_str().ok_or_else(invalid)?.to_string();
        (claims["sub"].as_str().ok_or_else(invalid)?.to_string(), claims["scope"].as_str().unwrap_or("").to_string(), jkt, grant)
    } else {
        let c = state.open_opaque(token).ok_or_else(invalid)?;
        (c.sub, c.scp, c.jkt, c.gid)
    };
    // Revoking the grant or any refresh-token family of it (RFC 7009 §2, reuse detection, code
    // replay, session end, user block) ends every access token minted from it, JWT or opaque.
    if !state.store.grant_is_live(&grant).await? {
        return Err(invalid());
    }
    // RFC 9449 §7.1: a DPoP-bound token needs the DPoP scheme and a proof by its key with `ath`;
    // sent as Bearer it is refused (a stolen token is useless without the key).
    let proof = state.dpop_proof(headers, method.as_str(), "userinfo", Some(token)).map_err(|f| f.for_resource())?;
    match (&jkt, dpop_scheme) {
        (Some(_), false) => return Err(dpop_invalid_token("A DPoP-bound access token must be sent with the DPoP authorization scheme")),
        (None, true) => return Err(dpop_invalid_token("The access token is not DPoP-bound")),
        (Some(bound), true) => match &proof {
            None => {
                let f = crate::service::dpop::DpopFailure::Invalid(ratchet_core::dpop::ProofError::new(
                    "dpop_required",
                    "A DPoP proof is required",
                ));
                return Err(f.for_resource());
            }
            Some(p) if &p.jkt != bound => {
                return Err(dpop_invalid_token("The DPoP proof is not made by the key the access token is bound to"));
            }
            Some(_) => {}
        },
        (None, false) => {}
    }
    if let Some(p) = &proof {
        state.spend_dpop_proof(p).await?.map_err(|f| f.for_resource())?;
    }
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

/// `401 invalid_token` with a `DPoP` challenge (RFC 9449 §7.1).
fn dpop_invalid_token(description: &str) -> OAuthError {
    let mut e = OAuthError::new(axum::http::StatusCode::UNAUTHORIZED, "invalid_token", description);
    e.challenge = Some(crate::service::dpop::dpop_challenge("invalid_token", description));
    e
}
