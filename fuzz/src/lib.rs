//! Fixed keys and request shapes shared by the fuzz targets and their seed generator, so the
//! committed seeds (fuzz/corpus/<target>/) are valid inputs for the targets.

use std::sync::OnceLock;

use ratchet_core::dpop::Expected;
use ratchet_core::family::{MacKey, TokenCodec};
use ratchet_core::jws::SigningKey;

/// The refresh-token MAC key of the fuzz targets (a test value, not a secret).
pub const MAC_KEY: &[u8] = b"ratchet fuzz refresh-token mac key";
/// The login-transaction key of the fuzz targets.
pub const TRANSACTION_KEY: [u8; 32] = [7; 32];
/// A fixed time for the DPoP target, so the seeds' `iat` stays inside the window.
pub const NOW: i64 = 1_800_000_000;
pub const HTU: &str = "https://ratchet.test/oauth/token";

/// An RSA-2048 test key committed with the targets (fuzz/keys/rsa2048.der).
pub fn signing_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_pkcs8(ratchet_core::jws::KeyType::Rsa, include_bytes!("../keys/rsa2048.der")).expect("the committed test key parses"))
}

pub fn codec() -> TokenCodec {
    TokenCodec::new(vec![MacKey::new(1, MAC_KEY)], 1)
}

pub fn expected(access_token: Option<&str>) -> Expected<'_> {
    Expected { htm: "POST", htu: HTU, now: NOW, iat_window: 60, access_token }
}
