//! `POST /oauth/token`: RFC 6749 §3.2, §4.1.3 (authorization_code), §4.4 (client_credentials),
//! §6 (refresh_token, with rotation per RFC 9700 §4.14.2), §5.1–5.2 (responses); OIDC Core §3.1.3.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ratchet_core::audit::EventType;
use ratchet_core::client::Client;
use ratchet_store::Seen;
use serde_json::json;

use crate::app::AppState;
use crate::error::OAuthError;
use crate::http::cors;
use crate::http::params::Params;
use crate::http::seen::SeenFrom;
use crate::service::audit::Record;
use crate::service::dpop::DpopFailure;
use crate::service::tokens::TokenResponse;
use ratchet_core::dpop::ProofError;

pub async fn token(
    State(state): State<AppState>,
    SeenFrom(seen): SeenFrom,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut client = None;
    let result = match body {
        Ok(body) => handle(&state, &headers, &body, &seen, &mut client).await,
        Err(e) => Err(OAuthError::from(e)),
    };
    let res = match result {
        Ok(t) => {
            let mut res = axum::Json(t).into_response();
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            res
        }
        Err(e) => e.into_response(),
    };
    let mut res = res;
    state.add_dpop_nonce(&mut res);
    cors::decorate(&state, &headers, client.as_ref(), res).await
}

/// The failed-exchange audit code of a grant type (Auth0's log event codes).
fn failed_exchange(grant_type: &str) -> EventType {
    match grant_type {
        "refresh_token" => EventType::RefreshExchangeFailed,
        "client_credentials" => EventType::ClientCredentialsFailed,
        _ => EventType::CodeExchangeFailed,
    }
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    seen: &Seen,
    client_out: &mut Option<Client>,
) -> Result<TokenResponse, OAuthError> {
    let p = Params::from_body(headers, body)?;
    let grant_type = p.require("grant_type")?;
    let client = state.authenticate_client(headers, &p).await?;
    *client_out = Some(client.clone());
    let origin = cors::origin(headers);
    if let Some(o) = origin
        && !client.allows_origin(o)
    {
        state
            .record(Record {
                kind: EventType::OriginNotAllowed,
                description: "Origin not allowed for this client",
                client_id: Some(&client.client_id),
                user_id: None,
                details: json!({"origin": o}),
            })
            .await;
        return Err(OAuthError::access_denied(format!("Origin {o} is not allowed for this client")));
    }
    // DPoP (RFC 9449 §4.3, §5): a valid proof binds what is issued; a client may require one.
    let proof = match state.dpop_proof(headers, "POST", "oauth/token", None) {
        Ok(None) if client.require_proof_of_possession => {
            Err(DpopFailure::Invalid(ProofError::new("dpop_required", "This client requires a DPoP proof (require_proof_of_possession)")))
        }
        other => other,
    };
    let proof = match proof {
        Ok(p) => p,
        Err(f) => return Err(dpop_refused(state, grant_type, &client, f).await),
    };
    // The refresh grant spends the proof in its rotation write; the others here.
    if grant_type != "refresh_token"
        && let Some(p) = &proof
        && let Err(f) = state.spend_dpop_proof(p).await?
    {
        return Err(dpop_refused(state, grant_type, &client, f).await);
    }
    let jkt = proof.as_ref().map(|p| p.jkt.as_str());
    match grant_type {
        "authorization_code" => state.exchange_code(&client, &p, origin.is_some(), seen, jkt).await,
        "refresh_token" => {
            state
                .exchange_refresh_token(&client, p.require("refresh_token")?, p.get("scope"), p.get("audience"), seen, proof.as_ref())
                .await
        }
        "client_credentials" => state.client_credentials(&client, &p, jkt).await,
        _ => Err(OAuthError::new(axum::http::StatusCode::BAD_REQUEST, "unsupported_grant_type", "Grant type not supported")),
    }
}

/// Records a refused DPoP proof as a failed exchange of `grant_type` and answers it with
/// `invalid_dpop_proof` (or `use_dpop_nonce`), RFC 9449 §5 and §8.
async fn dpop_refused(state: &AppState, grant_type: &str, client: &Client, f: DpopFailure) -> OAuthError {
    let e = f.for_token_endpoint();
    state.record_dpop_failure(failed_exchange(grant_type), Some(&client.client_id), None, f.reason(), &e.description).await;
    e
}
