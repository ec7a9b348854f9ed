//! `GET /v2/logout` (Auth0 logout: `client_id`, `returnTo`, `federated`) and `GET /oidc/logout`
//! (OpenID Connect RP-Initiated Logout 1.0 §2–3: `id_token_hint`, `client_id`,
//! `post_logout_redirect_uri`, `state`). The redirect target must be a registered logout URL of
//! the client.
//!
//! RP-Initiated Logout §2: without an `id_token_hint` naming the browser's current session (its
//! `sid`), the request may come from anyone (a link, an image on another site), so the user is
//! asked to confirm: a page whose POST form carries a sealed confirmation bound to that session
//! (`POST` to the same path). The POST is refused cross-site (as the login form's) and unless the
//! browser's session is the one the confirmation was issued for, which a third party cannot
//! obtain: the page cannot be framed and is not readable cross-origin.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ratchet_core::audit::EventType;
use ratchet_core::client::Client;
use ratchet_core::secret::{ct_eq, hash};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::http::params::Params;
use crate::http::{cookies, pages};
use crate::service::audit::Record;
use crate::service::tokens::sid_for;

/// How long a logout confirmation page stays valid.
const CONFIRMATION_LIFETIME: i64 = 600;

/// What the confirmation page's form carries, sealed: the logout as validated on `GET`, bound to
/// the session it ends.
#[derive(Serialize, Deserialize)]
struct Confirmation {
    sid: String,
    client_id: Option<String>,
    target: Option<String>,
    exp: i64,
}

pub async fn auth0_logout(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
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
    // Auth0's logout takes no hint, but one that verifies is honoured as at /oidc/logout.
    let hint = p.get("id_token_hint").and_then(|t| state.keys.current().signing.verify(t));
    end_or_confirm(&state, uri.path(), &headers, hint.as_ref(), client.as_ref(), return_to).await
}

pub async fn oidc_logout(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
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
    let hint = hinted.flatten();
    end_or_confirm(&state, uri.path(), &headers, hint.as_ref(), client.as_ref(), target).await
}

/// Ends the browser's session at once when `hint` (verified ID token claims) names it, or when
/// there is none to end; else answers the confirmation page, whose form posts to `path`.
async fn end_or_confirm(
    state: &AppState,
    path: &str,
    headers: &HeaderMap,
    hint: Option<&Value>,
    client: Option<&Client>,
    target: Option<String>,
) -> Response {
    let Some(sid) = current_sid(state, headers).await else { return end_session(state, headers, client, target).await };
    if hint.and_then(|claims| claims["sid"].as_str()).is_some_and(|hinted| ct_eq(hinted.as_bytes(), sid.as_bytes())) {
        return end_session(state, headers, client, target).await;
    }
    let confirmation =
        Confirmation { sid, client_id: client.map(|c| c.client_id.clone()), target, exp: state.now() + CONFIRMATION_LIFETIME };
    pages::logout_page(path, &state.seal_transaction(&confirmation), client.map(|c| c.name.as_str()))
}

/// The public id of the browser's stored session, if it sends one.
async fn current_sid(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let id_hash = hash(cookies::get(headers, cookies::SESSION)?);
    state.store.session(&id_hash).await.ok().flatten().map(|s| sid_for(&s.id_hash))
}

/// `POST /v2/logout` and `POST /oidc/logout`: the user confirmed on the page of [`end_or_confirm`].
pub async fn confirm(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let p = match crate::http::login::own_form(&state, &headers, body) {
        Ok(p) => p,
        Err(page) => return *page,
    };
    let confirmation = p.get("confirmation").and_then(|c| state.open_transaction::<Confirmation>(c)).filter(|c| c.exp > state.now());
    let sid = current_sid(&state, &headers).await;
    let Some(confirmation) = confirmation.filter(|c| sid.is_some_and(|sid| ct_eq(sid.as_bytes(), c.sid.as_bytes()))) else {
        return pages::error_page(
            StatusCode::FORBIDDEN,
            "This sign-out request has expired or is not for this browser. Sign out again from the application.",
        );
    };
    let client = match confirmation.client_id {
        Some(id) => match state.store.client(&id).await {
            Ok(c) => c.map(|c| c.client),
            Err(e) => return crate::error::OAuthError::from(e).into_response(),
        },
        None => None,
    };
    end_session(&state, &headers, client.as_ref(), confirmation.target).await
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
