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
use crate::service::tokens::TokenResponse;

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
    cors::decorate(&state, &headers, client.as_ref(), res).await
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
    match grant_type {
        "authorization_code" => state.exchange_code(&client, &p, origin.is_some(), seen).await,
        "refresh_token" => {
            state.exchange_refresh_token(&client, p.require("refresh_token")?, p.get("scope"), p.get("audience"), seen).await
        }
        "client_credentials" => state.client_credentials(&client, &p).await,
        _ => Err(OAuthError::new(axum::http::StatusCode::BAD_REQUEST, "unsupported_grant_type", "Grant type not supported")),
    }
}
