//! Token request bodies (RFC 6749 §3.2, form; and JSON as Auth0 accepts): the first byte picks
//! the Content-Type, the rest is the body.
#![no_main]

use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use ratchet_server::http::params::Params;

const TYPES: [&str; 4] = ["application/x-www-form-urlencoded", "application/json", "application/json; charset=utf-8", "text/plain"];

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else { return };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(TYPES[usize::from(kind) % TYPES.len()]));
    if let Ok(p) = Params::from_body(&headers, body) {
        let _ = p.get("grant_type");
        let _ = p.require("client_id");
    }
});
