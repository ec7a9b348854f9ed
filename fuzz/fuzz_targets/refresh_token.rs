//! The refresh-token codec: `TokenCodec::decode` must refuse anything it did not make, and what it
//! accepts must be exactly what `encode` makes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let codec = ratchet_fuzz::codec();
    if let Some((family, counter)) = codec.decode(token) {
        assert_eq!(codec.encode(&family, counter).expose(), token, "an accepted token is canonical");
    }
});
