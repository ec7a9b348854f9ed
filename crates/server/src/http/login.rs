//! `GET|POST /u/login`: the login page. CSRF protection: the form's transaction is bound to a
//! `SameSite=Lax` cookie set by `/authorize`, and a cross-origin `Origin` is refused. Brute-force
//! protection (`service::signin::SignIn`) counts attempts per (account, client address) and per
//! address in the store; one generic message avoids enumeration.

use ratchet_core::audit::EventType;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ratchet_core::secret::{Secret, ct_eq, hash};
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::http::authorize::respond;
use crate::http::client_address::ClientAddress;
use crate::http::params::Params;
use crate::http::seen::SeenFrom;
use crate::http::{cookies, pages};
use crate::service::audit::Record;
use crate::service::authorize::{AuthorizationRequest, code_response};
use crate::service::signin::{SESSION_LIFETIME, SignIn};

const WRONG: &str = "Wrong email or password.";
const EXPIRED: &str = "This sign-in link has expired. Go back to the application and sign in again.";

#[derive(Deserialize)]
pub struct LoginQuery {
    state: Option<String>,
}

pub async fn page(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    let Some(req) = q.state.as_deref().and_then(|tx| open(&state, tx)) else {
        return pages::error_page(StatusCode::BAD_REQUEST, EXPIRED);
    };
    let name = client_name(&state, &req.client_id).await;
    pages::login_page(StatusCode::OK, &name, q.state.as_deref().unwrap_or_default(), "", None)
}

pub async fn submit(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    SeenFrom(seen): SeenFrom,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let p = match own_form(&state, &headers, body) {
        Ok(p) => p,
        Err(page) => return *page,
    };
    let Some((tx, req)) = p.get("state").and_then(|tx| open(&state, tx).map(|r| (tx.to_string(), r))) else {
        return pages::error_page(StatusCode::BAD_REQUEST, EXPIRED);
    };
    let bound = cookies::get(&headers, cookies::CSRF).is_some_and(|c| ct_eq(hash(c).as_bytes(), req.csrf.as_bytes()));
    if !bound {
        return pages::error_page(StatusCode::FORBIDDEN, "Your browser did not send the sign-in cookie. Enable cookies and try again.");
    }
    let name = client_name(&state, &req.client_id).await;
    let (Some(username), Some(password)) = (p.get("username"), p.get("password")) else {
        return pages::login_page(StatusCode::BAD_REQUEST, &name, &tx, p.get("username").unwrap_or_default(), Some(WRONG));
    };
    let user = match state.sign_in(username, Secret::new(password), client, &req.client_id).await {
        Ok(SignIn::Succeeded(user)) => *user,
        Ok(SignIn::Failed) => return pages::login_page(StatusCode::BAD_REQUEST, &name, &tx, username, Some(WRONG)),
        Ok(SignIn::Refused { retry_after }) => {
            let mut res =
                pages::login_page(StatusCode::TOO_MANY_REQUESTS, &name, &tx, username, Some("Too many failed attempts. Try again later."));
            res.headers_mut().insert(header::RETRY_AFTER, retry_after.into());
            return res;
        }
        Err(e) => return pages::error_page(e.status, &e.description),
    };
    // A new sign-in replaces the browser's previous session, whoever it belonged to: the old
    // session id stops working (no fixation, no two users in one browser).
    if let Some(previous) = cookies::get(&headers, cookies::SESSION)
        && let Err(e) = state.end_session(previous).await
    {
        return pages::error_page(e.status, &e.description);
    }
    let result = async {
        state.admit(&req, &user).await?;
        let (sid, session) = state.start_session(&user, &seen).await?;
        let code = state.issue_code(&req, &session, &user).await?;
        Ok::<_, crate::error::OAuthError>((sid, code))
    }
    .await;
    let (sid, code) = match result {
        Ok(v) => v,
        Err(e) => return pages::error_page(e.status, &e.description),
    };
    state
        .record(Record {
            kind: EventType::LoginSucceeded,
            description: "Successful login",
            client_id: Some(&req.client_id),
            user_id: Some(&user.user_id),
            details: json!({"ip": client.to_string()}),
        })
        .await;
    let mut res = respond(&req.target, &code_response(code, &req.target), state.iss());
    let secure = state.secure_cookies();
    res.headers_mut().append(header::SET_COOKIE, cookies::set(cookies::SESSION, sid.expose(), SESSION_LIFETIME, secure));
    res.into_response()
}

fn open(state: &AppState, tx: &str) -> Option<AuthorizationRequest> {
    state.open_transaction::<AuthorizationRequest>(tx).filter(|r| r.exp > state.now())
}

async fn client_name(state: &AppState, client_id: &str) -> String {
    match state.store.client(client_id).await {
        Ok(Some(c)) => c.client.name,
        _ => "the application".into(),
    }
}

/// The fields of a form one of this server's pages posted: parsed, and refused (with an error page)
/// when the body is unreadable or malformed, or when it was posted cross-site (see [`same_origin`]).
pub(crate) fn own_form(state: &AppState, headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Params, Box<Response>> {
    let body = body.map_err(|e| pages::error_page(e.status(), &e.body_text()))?;
    let p = Params::from_body(headers, &body).map_err(|e| pages::error_page(StatusCode::BAD_REQUEST, &e.description))?;
    if !same_origin(state, headers) {
        return Err(Box::new(pages::error_page(StatusCode::FORBIDDEN, "Cross-site form submissions are not allowed.")));
    }
    Ok(p)
}

/// The form must come from our own origin, as far as the browser says where it came from:
/// `Sec-Fetch-Site` when sent, else `Origin`. (`Origin: null` is what a page with a
/// `no-referrer` policy sends; it counts as same-origin only when `Sec-Fetch-Site` vouches.)
fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| !matches!(s, "same-origin" | "none")) {
        return false;
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some("null") => site == Some("same-origin"),
        Some(o) => ratchet_core::oauth::origin_of(state.iss()).as_deref() == Some(o),
    }
}
