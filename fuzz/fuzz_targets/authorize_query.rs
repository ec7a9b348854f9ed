//! The authorization request's query (RFC 6749 §4.1.1): parameter collection, then the edge
//! parsers of its values. Must never panic; errors are fine.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ratchet_core::oauth::{CodeChallenge, RedirectUri, Scope};
use ratchet_server::http::params::Params;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else { return };
    let Ok(p) = Params::from_query(Some(query)) else { return };
    if let Some(s) = p.get("scope") {
        let _ = Scope::parse(s);
    }
    if let Some(r) = p.get("redirect_uri") {
        let _ = RedirectUri::parse(r);
    }
    if let Some(c) = p.get("code_challenge") {
        let _ = CodeChallenge::parse(c, p.get("code_challenge_method"));
    }
});
