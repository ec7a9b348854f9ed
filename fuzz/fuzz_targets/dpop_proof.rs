//! DPoP proof validation (RFC 9449 §4.3): the first byte says whether an access token came with
//! the proof (for `ath`), the rest is the `DPoP` header value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&with_token, proof)) = data.split_first() else { return };
    let Ok(proof) = std::str::from_utf8(proof) else { return };
    let token = (with_token & 1 == 1).then_some("an-access-token");
    let _ = ratchet_core::dpop::verify(proof, &ratchet_fuzz::expected(token));
});
