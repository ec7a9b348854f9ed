//! `POST /oauth/revoke`: RFC 7009 §2.1–2.2 for refresh tokens (the whole family is revoked) and
//! access tokens (the grant they were minted from is revoked).

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ratchet_core::client::Client;

use crate::app::AppState;
use crate::error::OAuthError;
use crate::http::cors;
use crate::http::params::Params;

pub async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let mut client = None;
    let result = match body {
        Ok(body) => handle(&state, &headers, &body, &mut client).await,
        Err(e) => Err(OAuthError::from(e)),
    };
    let res = match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    };
    let mut res = res;
    state.add_dpop_nonce(&mut res);
    cors::decorate(&state, &headers, client.as_ref(), res).await
}

async fn handle(state: &AppState, headers: &HeaderMap, body: &[u8], client_out: &mut Option<Client>) -> Result<(), OAuthError> {
    let p = Params::from_body(headers, body)?;
    let client = state.authenticate_client(headers, &p).await?;
    *client_out = Some(client.clone());
    if let Some(o) = cors::origin(headers)
        && !client.allows_origin(o)
    {
        return Err(OAuthError::access_denied(format!("Origin {o} is not allowed for this client")));
    }
    let token = p.require("token")?;
    // A proof, when sent, must be valid (RFC 9449 §4.3); it is what lets a DPoP-bound family be revoked.
    let failed = |f: crate::service::dpop::DpopFailure| f.for_token_endpoint();
    let proof = state.dpop_proof(headers, "POST", "oauth/revoke", None).map_err(failed)?;
    if let Some(p) = &proof {
        state.spend_dpop_proof(p).await?.map_err(failed)?;
    }
    state.revoke_refresh_token(&client, token, proof.as_ref().map(|p| p.jkt.as_str())).await
}
