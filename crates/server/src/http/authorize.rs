//! `GET|POST /authorize`: RFC 6749 §4.1.1–4.1.2.1, RFC 9207 (`iss`), OIDC Core §6 (request objects
//! are not supported), RFC 7636 §4.3, OIDC Core §3.1.2 (prompt, max_age,
//! nonce), OAuth 2.0 Multiple Response Type Encoding Practices (response_mode), Form Post Response
//! Mode, and draft-sakimura-oauth-wmrm (web_message).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use ratchet_core::oauth::origin_of;
use ratchet_core::secret::{hash, random_token};

use crate::app::AppState;
use crate::error::OAuthError;
use crate::http::params::Params;
use crate::http::{cookies, pages};
use crate::service::authorize::{Mode, Next, Rejection, Target, error_response};

pub async fn authorize(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    match Params::from_query(query.as_deref()) {
        Ok(p) => handle(&state, &headers, &p).await,
        Err(e) => pages::error_page(StatusCode::BAD_REQUEST, &e.description),
    }
}

/// `POST /authorize` with a form body (OIDC Core §3.1.2.1: both methods must be supported).
pub async fn authorize_post(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let parsed = body.map_err(OAuthError::from).and_then(|body| Params::from_body(&headers, &body));
    match parsed {
        Ok(p) => handle(&state, &headers, &p).await,
        Err(e) => pages::error_page(StatusCode::BAD_REQUEST, &e.description),
    }
}

async fn handle(state: &AppState, headers: &HeaderMap, p: &Params) -> Response {
    let (csrf, new_csrf) = match cookies::get(headers, cookies::CSRF) {
        Some(c) => (c.to_string(), false),
        None => (random_token(), true),
    };
    let (req, _) = match state.validate_authorization(p, hash(&csrf)).await {
        Ok(v) => v,
        Err(Rejection::Page(msg)) => return pages::error_page(StatusCode::BAD_REQUEST, &msg),
        Err(Rejection::Redirect { target, error, description }) => {
            return respond(&target, &error_response(error, &description, &target), state.iss());
        }
    };
    let session = match state.live_session(cookies::get(headers, cookies::SESSION)).await {
        Ok(s) => s,
        Err(e) => return pages::error_page(e.status, &e.description),
    };
    match state.decide(req, session).await {
        Ok(Next::Respond(target, params)) => respond(&target, &params, state.iss()),
        Ok(Next::Login(req)) => {
            let tx = state.seal_transaction(&req);
            let mut res = pages::found(&format!("/u/login?state={tx}"));
            if new_csrf {
                res.headers_mut().append(header::SET_COOKIE, cookies::set(cookies::CSRF, &csrf, 86_400, state.secure_cookies()));
            }
            res
        }
        Err(e) => pages::error_page(e.status, &e.description),
    }
}

/// Delivers authorization response parameters to a validated target, with the issuer's `iss`
/// (RFC 9207 §2: lets the client detect a response from another authorization server).
pub fn respond(target: &Target, params: &[(&'static str, String)], iss: &str) -> Response {
    let mut params = params.to_vec();
    params.push(("iss", iss.to_string()));
    let params = params.as_slice();
    let Ok(mut url) = url::Url::parse(&target.redirect_uri) else {
        return pages::error_page(StatusCode::BAD_REQUEST, "Invalid redirect_uri");
    };
    let mut res = match target.mode {
        Mode::Query => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            pages::found(url.as_str())
        }
        Mode::Fragment => {
            let frag = form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str()))).finish();
            url.set_fragment(Some(&frag));
            pages::found(url.as_str())
        }
        Mode::FormPost => pages::form_post(&target.redirect_uri, params),
        Mode::WebMessage => match origin_of(&target.redirect_uri) {
            Some(origin) => pages::web_message(&origin, params),
            None => pages::error_page(StatusCode::BAD_REQUEST, "Invalid redirect_uri"),
        },
    };
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut().insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    res
}
