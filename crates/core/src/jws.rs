//! RS256 compact JWS (RFC 7515 §7.1, RFC 7518 §3.3) and the JWK Set (RFC 7517) for ID tokens and
//! JWT access tokens. Keys are parsed once into [`SigningKey`]; signing never re-parses DER.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::CoreError;

/// A parsed RSA private key with its key id (the RFC 7638 thumbprint of its public JWK).
pub struct SigningKey {
    pair: RsaKeyPair,
    kid: String,
    n: String,
    e: String,
    /// `base64url({"alg":"RS256","typ":"JWT","kid":…})`, precomputed.
    header_b64: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh RSA-2048 key; returns it with its PKCS#8 DER for (encrypted) storage.
    pub fn generate() -> Result<(Self, Vec<u8>), CoreError> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| CoreError::Crypto("rsa keygen"))?;
        let der = pair.as_der().map_err(|_| CoreError::Crypto("pkcs8 encode"))?.as_ref().to_vec();
        Ok((Self::from_pair(pair), der))
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CoreError> {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| CoreError::Crypto("pkcs8 decode"))?;
        Ok(Self::from_pair(pair))
    }

    fn from_pair(pair: RsaKeyPair) -> Self {
        let public = pair.public_key();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        // RFC 7638 §3.2: required members in lexicographic order, no whitespace.
        let thumb_input = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumb_input.as_bytes()));
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
        let header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());
        SigningKey { pair, kid, n, e, header_b64 }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK of this key.
    pub fn jwk(&self) -> Value {
        json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": self.n, "e": self.e})
    }

    /// Signs `claims` as a compact JWS.
    pub fn sign(&self, claims: &Value) -> Result<String, CoreError> {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).map_err(|_| CoreError::Crypto("claims"))?);
        let mut out = String::with_capacity(self.header_b64.len() + payload.len() + 2 + 342);
        out.push_str(&self.header_b64);
        out.push('.');
        out.push_str(&payload);
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), out.as_bytes(), &mut sig)
            .map_err(|_| CoreError::Crypto("rsa sign"))?;
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(&sig));
        Ok(out)
    }

    /// Verifies a compact JWS made by this key and returns its claims (used for `id_token_hint`).
    pub fn verify(&self, jws: &str) -> Option<Value> {
        let (signing_input, sig) = jws.rsplit_once('.')?;
        let (header, payload) = signing_input.split_once('.')?;
        if header != self.header_b64 {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let public = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            self.pair.public_key().as_ref(),
        );
        public.verify(signing_input.as_bytes(), &sig).ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }
}

/// The JWK Set document for `keys`.
pub fn jwks(keys: &[&SigningKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_token_verifies_and_tampering_fails() {
        let (key, der) = SigningKey::generate().unwrap();
        let reparsed = SigningKey::from_pkcs8(&der).unwrap();
        assert_eq!(key.kid(), reparsed.kid());
        let jws = key.sign(&json!({"sub": "u1"})).unwrap();
        assert_eq!(reparsed.verify(&jws).unwrap()["sub"], "u1");
        let mut tampered = jws.clone();
        tampered.insert(jws.find('.').unwrap() + 2, 'x');
        assert!(key.verify(&tampered).is_none());
    }
}
