//! The compact JWS parser and RS256 verification (RFC 7515 §7.1) used for `id_token_hint`,
//! `/userinfo` and the Management API.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(jws) = std::str::from_utf8(data) else { return };
    let _ = ratchet_fuzz::signing_key().verify(jws);
});
