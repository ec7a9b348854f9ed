//! `GET /v2/logout` (Auth0 logout: `client_id`, `returnTo`, `federated`) and `GET /oidc/logout`
//! (OpenID Connect RP-Initiated Logout 1.0 §2–3: `id_token_hint`, `client_id`,
//! `post_logout_redirect_uri`, `state`). Both end the session without a confirmation page; the
//! redirect target must be a registered logout URL of the client.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ratchet_core::audit::EventType;
use ratchet_core::client::Client;
use ratchet_core::secret::hash;
use serde_json::json;

use crate::app::AppState;
use crate::http::params::Params;
use crate::http::{cookies, pages};
use crate::service::audit::Record;

pub async fn auth0_logout(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let p = match Params::from_query(q.as_deref()) {
        Ok(p) => p,
        Err(e) => return pages::error_page(StatusCode::BAD_REQUEST, &e.description),
    };
    let client = match p.get("client_id") {
        Some(id) => match state.store.client(id).await {
            Ok(Some(c)) => Some(c.client),
            Ok(None) => return pages::error_page(StatusCode::BAD_REQUEST, "Unknown client."),
            Err(e) => return pages::error_page(StatusCode::SERVICE_UNAVAILABLE, &crate::error::OAuthError::from(e).description),
        },
        None => None,
    };
    let return_to = match (p.get("returnTo"), &client) {
        (Some(r), Some(c)) if c.allowed_logout_urls.iter().any(|u| u == r) => Some(r.to_string()),
        (Some(r), None) if any_client_allows_logout_url(&state, r).await => Some(r.to_string()),
        (Some(r), _) => {
            return pages::error_page(
                StatusCode::BAD_REQUEST,
                &format!("The \"returnTo\" parameter \"{r}\" is not defined as a valid URL in \"Allowed Logout URLs\"."),
            );
        }
        (None, Some(c)) => c.allowed_logout_urls.first().cloned(),
        (None, None) => None,
    };
    end_session(&state, &headers, client.as_ref(), return_to).await
}

pub async fn oidc_logout(State(state): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let p = match Params::from_query(q.as_deref()) {
        Ok(p) => p,
        Err(e) => return pages::error_page(StatusCode::BAD_REQUEST, &e.description),
    };
    // The hint identifies the client; an expired hint is still a valid hint.
    let hinted = p.get("id_token_hint").map(|t| state.keys.current().signing.verify(t));
    let client_id = match (&hinted, p.get("client_id")) {
        (Some(None), _) => return pages::error_page(StatusCode::BAD_REQUEST, "Invalid id_token_hint."),
        (Some(Some(claims)), given) => {
            let aud = claims["aud"].as_str().unwrap_or_default().to_string();
            if given.is_some_and(|g| g != aud) {
                return pages::error_page(StatusCode::BAD_REQUEST, "client_id does not match id_token_hint.");
            }
            Some(aud)
        }
        (None, given) => given.map(str::to_string),
    };
    let client = match client_id {
        Some(id) => match state.store.client(&id).await {
            Ok(Some(c)) => Some(c.client),
            _ => return pages::error_page(StatusCode::BAD_REQUEST, "Unknown client."),
        },
        None => None,
    };
    let target = match (p.get("post_logout_redirect_uri"), &client) {
        (Some(r), Some(c)) if c.allowed_logout_urls.iter().any(|u| u == r) => {
            let mut url = match url::Url::parse(r) {
                Ok(u) => u,
                Err(_) => return pages::error_page(StatusCode::BAD_REQUEST, "Invalid post_logout_redirect_uri."),
            };
            if let Some(s) = p.get("state") {
                url.query_pairs_mut().append_pair("state", s);
            }
            Some(url.to_string())
        }
        (Some(_), _) => return pages::error_page(StatusCode::BAD_REQUEST, "post_logout_redirect_uri is not registered for this client."),
        (None, _) => None,
    };
    end_session(&state, &headers, client.as_ref(), target).await
}

async fn any_client_allows_logout_url(state: &AppState, url: &str) -> bool {
    state.store.clients().await.is_ok_and(|cs| cs.iter().any(|c| c.allowed_logout_urls.iter().any(|u| u == url)))
}

async fn end_session(state: &AppState, headers: &HeaderMap, client: Option<&Client>, target: Option<String>) -> Response {
    if let Some(id) = cookies::get(headers, cookies::SESSION) {
        let id_hash = hash(id);
        let user = state.store.session(&id_hash).await.ok().flatten().map(|s| s.user_id);
        if let Err(e) = state.store.delete_session(&id_hash, false, state.now()).await {
            return crate::error::OAuthError::from(e).into_response();
        }
        state
            .record(Record {
                kind: EventType::LogoutSucceeded,
                description: "Successful logout",
                client_id: client.map(|c| c.client_id.as_str()),
                user_id: user.as_deref(),
                details: json!({"return_to": target}),
            })
            .await;
    }
    let mut res = match target {
        Some(t) => pages::found(&t),
        None => pages::message_page("Signed out", "You have been signed out."),
    };
    res.headers_mut().append(header::SET_COOKIE, cookies::clear(cookies::SESSION, state.secure_cookies()));
    res
}
