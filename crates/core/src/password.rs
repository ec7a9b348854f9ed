//! Password hashing with Argon2id (OWASP parameters: 19 MiB, t=2, p=1). The encoded form is
//! `argon2id$v=19$m=19456,t=2,p=1$<salt b64>$<hash b64>`. Callers run these functions off the async
//! runtime: each call takes tens of milliseconds of CPU by design.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use crate::CoreError;
use crate::secret::{ct_eq, random_bytes};

const M_COST: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const OUT_LEN: usize = 32;

fn hasher(m: u32, t: u32, p: u32) -> Result<Argon2<'static>, CoreError> {
    let params = Params::new(m, t, p, Some(OUT_LEN)).map_err(|_| CoreError::Crypto("argon2 params"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` under a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, CoreError> {
    let salt = random_bytes::<16>();
    let mut out = [0u8; OUT_LEN];
    hasher(M_COST, T_COST, P_COST)?
        .hash_password_into(password.as_bytes(), &salt, &mut out)
        .map_err(|_| CoreError::Crypto("argon2 hash"))?;
    Ok(format!("argon2id$v=19$m={M_COST},t={T_COST},p={P_COST}${}${}", STANDARD_NO_PAD.encode(salt), STANDARD_NO_PAD.encode(out)))
}

/// Checks `password` against an encoded hash, in constant time for the final comparison.
/// A malformed stored hash verifies nothing.
pub fn verify_password(password: &str, encoded: &str) -> bool {
    let parts: Vec<&str> = encoded.split('$').collect();
    let [alg, "v=19", params, salt, expected] = parts.as_slice() else { return false };
    if *alg != "argon2id" {
        return false;
    }
    let mut m = 0;
    let mut t = 0;
    let mut p = 0;
    for kv in params.split(',') {
        match kv.split_once('=') {
            Some(("m", v)) => m = v.parse().unwrap_or(0),
            Some(("t", v)) => t = v.parse().unwrap_or(0),
            Some(("p", v)) => p = v.parse().unwrap_or(0),
            _ => return false,
        }
    }
    let (Ok(salt), Ok(expected)) = (STANDARD_NO_PAD.decode(salt), STANDARD_NO_PAD.decode(expected)) else {
        return false;
    };
    let Ok(h) = hasher(m, t, p) else { return false };
    let mut out = vec![0u8; expected.len().max(4)];
    if h.hash_password_into(password.as_bytes(), &salt, &mut out).is_err() {
        return false;
    }
    ct_eq(&out, &expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_verifies_only_the_right_password() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsf", &h));
        assert!(!verify_password("correct horse", "garbage"));
        assert_ne!(h, hash_password("correct horse").unwrap(), "salts differ");
    }
}
