//! `GET /authorize`: RFC 6749 §4.1.1–4.1.2.1, RFC 7636 §4.3, OIDC Core §3.1.2 (prompt, max_age,
//! nonce), OAuth 2.0 Multiple Response Type Encoding Practices (response_mode), Form Post Response
//! Mode, and draft-sakimura-oauth-wmrm (web_message).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use ratchet_core::oauth::origin_of;
use ratchet_core::secret::{hash, random_token};

use crate::app::AppState;
use crate::http::params::Params;
use crate::http::{cookies, pages};
use crate::service::authorize::{Mode, Next, Rejection, Target, error_response};

pub async fn authorize(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let p = match Params::from_query(query.as_deref()) {
        Ok(p) => p,
        Err(e) => return pages::error_page(StatusCode::BAD_REQUEST, &e.description),
    };
    let (csrf, new_csrf) = match cookies::get(&headers, cookies::CSRF) {
        Some(c) => (c.to_string(), false),
        None => (random_token(), true),
    };
    let (req, _) = match state.validate_authorization(&p, hash(&csrf)).await {
        Ok(v) => v,
        Err(Rejection::Page(msg)) => return pages::error_page(StatusCode::BAD_REQUEST, &msg),
        Err(Rejection::Redirect { target, error, description }) => {
            return respond(&target, &error_response(error, &description, &target));
        }
    };
    let session = match state.live_session(cookies::get(&headers, cookies::SESSION)).await {
        Ok(s) => s,
        Err(e) => return pages::error_page(e.status, &e.description),
    };
    match state.decide(req, session).await {
        Ok(Next::Respond(target, params)) => respond(&target, &params),
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

/// Delivers authorization response parameters to a validated target.
pub fn respond(target: &Target, params: &[(&'static str, String)]) -> Response {
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
