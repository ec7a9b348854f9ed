//! Compact JWS (RFC 7515 §7.1) signing for ID tokens and JWT access tokens with the algorithms a
//! client or API may choose (RFC 7518 §3.3 RS256, §3.5 PS256, §3.4 ES256; RFC 8037 §3.1 EdDSA
//! over Ed25519), and the JWK Set (RFC 7517) that publishes the keys.
//!
//! One key per key type: an RSA key serves both RS256 and PS256 (the same key with a different
//! `alg` header, RFC 7518 §3.3/§3.5), a P-256 key serves ES256, an Ed25519 key serves EdDSA. A JWK
//! whose `alg` member is present names the one algorithm the key is meant for (RFC 7517 §4.4),
//! so the RSA key is published once per algorithm: its RS256 JWK is what it has always been
//! (`kid` = its RFC 7638 thumbprint, `alg` RS256), and its PS256 JWK carries the same public key
//! under the distinct `kid` `{thumbprint}-ps256` (RFC 7517 §4.5: distinct keys of a set get
//! distinct `kid`s), so a verifier that pins a JWK's `alg` accepts each token by its own JWK.
//! The headers (`alg`, `typ`, `kid`) are precomputed per (key, algorithm); signing never
//! re-parses DER nor re-encodes a header (docs/security.md, "Signing keys").

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_2048_8192_SHA256,
    RSA_PKCS1_SHA256, RSA_PSS_2048_8192_SHA256, RSA_PSS_SHA256, RsaKeyPair, UnparsedPublicKey, VerificationAlgorithm,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::CoreError;

/// A JWS algorithm a client (ID tokens, `jwt_configuration.alg`) or an API (access tokens,
/// `signing_alg`) may choose. RS256 is the default: it is what every OIDC relying party must
/// accept (OIDC Core §15.1) and the only one Auth0's SPA SDK takes. Symmetric algorithms (HS256)
/// are refused: a verifier would need a secret that can also sign.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    #[default]
    RS256,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256, salt of 32 bytes (RFC 7518 §3.5).
    PS256,
    /// ECDSA over P-256 with SHA-256, the signature as raw `r || s` (RFC 7518 §3.4).
    ES256,
    /// EdDSA over Ed25519 (RFC 8037 §3.1).
    EdDSA,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 4] = [SigningAlg::RS256, SigningAlg::PS256, SigningAlg::ES256, SigningAlg::EdDSA];

    /// The `alg` value (RFC 7518 §3.1, RFC 8037 §3.1).
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::PS256 => "PS256",
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }

    /// The type of key that makes this algorithm's signatures.
    pub fn key_type(self) -> KeyType {
        match self {
            SigningAlg::RS256 | SigningAlg::PS256 => KeyType::Rsa,
            SigningAlg::ES256 => KeyType::P256,
            SigningAlg::EdDSA => KeyType::Ed25519,
        }
    }

    fn verification(self) -> &'static dyn VerificationAlgorithm {
        match self {
            SigningAlg::RS256 => &RSA_PKCS1_2048_8192_SHA256,
            SigningAlg::PS256 => &RSA_PSS_2048_8192_SHA256,
            SigningAlg::ES256 => &ECDSA_P256_SHA256_FIXED,
            SigningAlg::EdDSA => &ED25519,
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `alg` that is not one of [`SigningAlg::ALL`] (names are case-sensitive, RFC 7515 §4.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedAlg(pub String);

impl fmt::Display for UnsupportedAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signing algorithm {:?} is not supported (RS256, PS256, ES256 or EdDSA)", self.0)
    }
}

impl std::error::Error for UnsupportedAlg {}

impl FromStr for SigningAlg {
    type Err = UnsupportedAlg;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SigningAlg::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| UnsupportedAlg(s.to_string()))
    }
}

/// The type of a signing key; each has its own rotation (docs/security.md, "Key rotation").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA-2048: RS256 and PS256.
    Rsa,
    /// ECDSA P-256: ES256.
    P256,
    /// Ed25519: EdDSA.
    Ed25519,
}

impl KeyType {
    pub const ALL: [KeyType; 3] = [KeyType::Rsa, KeyType::P256, KeyType::Ed25519];

    /// The algorithms a key of this type signs with.
    pub fn algs(self) -> &'static [SigningAlg] {
        match self {
            KeyType::Rsa => &[SigningAlg::RS256, SigningAlg::PS256],
            KeyType::P256 => &[SigningAlg::ES256],
            KeyType::Ed25519 => &[SigningAlg::EdDSA],
        }
    }
}

enum Pair {
    Rsa(RsaKeyPair),
    P256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// What signs with one algorithm of a key: the `kid` its JWK and tokens carry, and the
/// precomputed `base64url({"alg":…,"typ":"JWT","kid":…})`.
struct AlgHeader {
    alg: SigningAlg,
    kid: String,
    header_b64: String,
}

/// A parsed private key with its key id (the RFC 7638 thumbprint of its public JWK).
pub struct SigningKey {
    pair: Pair,
    kid: String,
    /// The public JWK's key-type members (`kty`, `n`/`e`, `crv`/`x`/`y`).
    public: serde_json::Map<String, Value>,
    headers: Vec<AlgHeader>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("key_type", &self.key_type()).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key of `key_type` (RSA-2048, P-256 or Ed25519); returns it with its PKCS#8 DER
    /// for (sealed) storage.
    pub fn generate(key_type: KeyType) -> Result<(Self, Vec<u8>), CoreError> {
        let pair = match key_type {
            KeyType::Rsa => Pair::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| CoreError::Crypto("rsa keygen"))?),
            KeyType::P256 => {
                Pair::P256(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| CoreError::Crypto("p-256 keygen"))?)
            }
            KeyType::Ed25519 => Pair::Ed25519(Ed25519KeyPair::generate().map_err(|_| CoreError::Crypto("ed25519 keygen"))?),
        };
        let der = match &pair {
            Pair::Rsa(p) => p.as_der().map_err(|_| CoreError::Crypto("pkcs8 encode"))?.as_ref().to_vec(),
            Pair::P256(p) => p.to_pkcs8v1().map_err(|_| CoreError::Crypto("pkcs8 encode"))?.as_ref().to_vec(),
            Pair::Ed25519(p) => p.to_pkcs8v1().map_err(|_| CoreError::Crypto("pkcs8 encode"))?.as_ref().to_vec(),
        };
        Ok((Self::from_pair(pair), der))
    }

    /// Parses a stored PKCS#8 key of `key_type`.
    pub fn from_pkcs8(key_type: KeyType, der: &[u8]) -> Result<Self, CoreError> {
        let bad = |_| CoreError::Crypto("pkcs8 decode");
        let pair = match key_type {
            KeyType::Rsa => Pair::Rsa(RsaKeyPair::from_pkcs8(der).map_err(bad)?),
            KeyType::P256 => Pair::P256(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(bad)?),
            KeyType::Ed25519 => Pair::Ed25519(Ed25519KeyPair::from_pkcs8(der).map_err(bad)?),
        };
        Ok(Self::from_pair(pair))
    }

    fn from_pair(pair: Pair) -> Self {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        // RFC 7638 §3.2 (RFC 8037 §2 for OKP): the required members in lexicographic order, no
        // whitespace; serde_json's map keeps keys sorted, so the public members serialise so.
        let public: serde_json::Map<String, Value> = match &pair {
            Pair::Rsa(p) => {
                let key = p.public_key();
                let n = b64(key.modulus().big_endian_without_leading_zero());
                let e = b64(key.exponent().big_endian_without_leading_zero());
                [("e", e), ("kty", "RSA".into()), ("n", n)].into_iter().map(|(k, v)| (k.to_string(), Value::from(v))).collect()
            }
            Pair::P256(p) => {
                // The uncompressed point: 0x04 || X (32 bytes) || Y (32 bytes).
                let point = p.public_key().as_ref();
                let (x, y) = (b64(&point[1..33]), b64(&point[33..65]));
                [("crv", "P-256".into()), ("kty", "EC".into()), ("x", x), ("y", y)]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), Value::from(v)))
                    .collect()
            }
            Pair::Ed25519(p) => {
                let x = b64(p.public_key().as_ref());
                [("crv", "Ed25519".into()), ("kty", "OKP".into()), ("x", x)]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), Value::from(v)))
                    .collect()
            }
        };
        let thumb_input = Value::Object(public.clone()).to_string();
        let kid = b64(&Sha256::digest(thumb_input.as_bytes()));
        let key_type = match &pair {
            Pair::Rsa(_) => KeyType::Rsa,
            Pair::P256(_) => KeyType::P256,
            Pair::Ed25519(_) => KeyType::Ed25519,
        };
        let headers = key_type
            .algs()
            .iter()
            .map(|&alg| {
                let kid = match alg {
                    SigningAlg::PS256 => format!("{kid}-ps256"),
                    _ => kid.clone(),
                };
                let header_b64 = b64(json!({"alg": alg.as_str(), "typ": "JWT", "kid": &kid}).to_string().as_bytes());
                AlgHeader { alg, kid, header_b64 }
            })
            .collect();
        SigningKey { pair, kid, public, headers }
    }

    /// The key's id: the RFC 7638 thumbprint of its public JWK (what `ratchet keys list` shows;
    /// the PS256 JWK of an RSA key carries it suffixed with `-ps256`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn key_type(&self) -> KeyType {
        match self.pair {
            Pair::Rsa(_) => KeyType::Rsa,
            Pair::P256(_) => KeyType::P256,
            Pair::Ed25519(_) => KeyType::Ed25519,
        }
    }

    /// The public JWKs of this key: one per algorithm it signs with, each pinning its `alg`.
    pub fn jwks(&self) -> Vec<Value> {
        self.headers
            .iter()
            .map(|h| {
                let mut jwk = self.public.clone();
                jwk.insert("use".into(), "sig".into());
                jwk.insert("alg".into(), h.alg.as_str().into());
                jwk.insert("kid".into(), h.kid.clone().into());
                Value::Object(jwk)
            })
            .collect()
    }

    /// Signs `claims` as a compact JWS with `alg`, which must be one of this key's.
    pub fn sign(&self, alg: SigningAlg, claims: &Value) -> Result<String, CoreError> {
        let header = self.headers.iter().find(|h| h.alg == alg).ok_or(CoreError::Crypto("algorithm of another key type"))?;
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).map_err(|_| CoreError::Crypto("claims"))?);
        let mut out = String::with_capacity(header.header_b64.len() + payload.len() + 2 + 342);
        out.push_str(&header.header_b64);
        out.push('.');
        out.push_str(&payload);
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sig = match (&self.pair, alg) {
            (Pair::Rsa(p), SigningAlg::RS256 | SigningAlg::PS256) => {
                let padding = if alg == SigningAlg::RS256 { &RSA_PKCS1_SHA256 } else { &RSA_PSS_SHA256 };
                let mut sig = vec![0u8; p.public_modulus_len()];
                p.sign(padding, &rng, out.as_bytes(), &mut sig).map_err(|_| CoreError::Crypto("rsa sign"))?;
                sig
            }
            (Pair::P256(p), _) => p.sign(&rng, out.as_bytes()).map_err(|_| CoreError::Crypto("ecdsa sign"))?.as_ref().to_vec(),
            (Pair::Ed25519(p), _) => p.sign(out.as_bytes()).as_ref().to_vec(),
            (Pair::Rsa(_), _) => return Err(CoreError::Crypto("algorithm of another key type")),
        };
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&sig, &mut out);
        Ok(out)
    }

    /// Verifies a compact JWS made by this key and returns its claims (used for `id_token_hint`
    /// and the server's own access tokens). The header must be exactly one this key makes, so
    /// the algorithm it is verified with is the one bound to the key, never one the token names
    /// for itself (RFC 8725 §3.1).
    pub fn verify(&self, jws: &str) -> Option<Value> {
        let (signing_input, sig) = jws.rsplit_once('.')?;
        let (header, payload) = signing_input.split_once('.')?;
        let alg = self.headers.iter().find(|h| h.header_b64 == header)?.alg;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let public = match &self.pair {
            Pair::Rsa(p) => p.public_key().as_ref(),
            Pair::P256(p) => p.public_key().as_ref(),
            Pair::Ed25519(p) => p.public_key().as_ref(),
        };
        UnparsedPublicKey::new(alg.verification(), public).verify(signing_input.as_bytes(), &sig).ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }
}

/// The JWK Set document for `keys`.
pub fn jwks(keys: &[&SigningKey]) -> Value {
    json!({"keys": keys.iter().flat_map(|k| k.jwks()).collect::<Vec<_>>()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_token_verifies_and_tampering_fails() {
        for alg in SigningAlg::ALL {
            let (key, der) = SigningKey::generate(alg.key_type()).unwrap();
            let reparsed = SigningKey::from_pkcs8(alg.key_type(), &der).unwrap();
            assert_eq!(key.kid(), reparsed.kid(), "{alg}");
            let jws = key.sign(alg, &json!({"sub": "u1"})).unwrap();
            assert_eq!(reparsed.verify(&jws).unwrap()["sub"], "u1", "{alg}");
            let mut tampered = jws.clone();
            tampered.insert(jws.find('.').unwrap() + 2, 'x');
            assert!(key.verify(&tampered).is_none(), "{alg}");
        }
    }

    #[test]
    fn only_the_four_asymmetric_algorithms_parse() {
        for alg in SigningAlg::ALL {
            assert_eq!(alg.as_str().parse::<SigningAlg>(), Ok(alg));
        }
        for bad in ["HS256", "none", "rs256", "ES384", "", "EDDSA"] {
            assert!(bad.parse::<SigningAlg>().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<SigningAlg>(r#""HS256""#).is_err());
        assert_eq!(serde_json::to_string(&SigningAlg::EdDSA).unwrap(), r#""EdDSA""#);
    }

    #[test]
    fn a_key_refuses_an_algorithm_of_another_key_type() {
        let (rsa, _) = SigningKey::generate(KeyType::Rsa).unwrap();
        assert!(rsa.sign(SigningAlg::ES256, &json!({})).is_err());
        let (ec, _) = SigningKey::generate(KeyType::P256).unwrap();
        assert!(ec.sign(SigningAlg::RS256, &json!({})).is_err());
    }

    #[test]
    fn a_token_relabelled_with_the_other_rsa_algorithm_does_not_verify() {
        // An RS256 signature under a PS256 header (or the reverse) is refused: the header picks
        // the algorithm only among those bound to the key, and the signature must match it.
        let (key, _) = SigningKey::generate(KeyType::Rsa).unwrap();
        let rs = key.sign(SigningAlg::RS256, &json!({"sub": "u1"})).unwrap();
        let ps = key.sign(SigningAlg::PS256, &json!({"sub": "u1"})).unwrap();
        let (ps_header, _) = ps.split_once('.').unwrap();
        let (_, rs_rest) = rs.split_once('.').unwrap();
        assert!(key.verify(&format!("{ps_header}.{rs_rest}")).is_none());
        assert!(key.verify(&ps).is_some());
    }

    #[test]
    fn the_rsa_key_is_published_once_per_algorithm_with_distinct_kids() {
        let (key, _) = SigningKey::generate(KeyType::Rsa).unwrap();
        let jwks = key.jwks();
        assert_eq!(jwks.len(), 2);
        assert_eq!((jwks[0]["alg"].as_str(), jwks[0]["kid"].as_str()), (Some("RS256"), Some(key.kid())));
        assert_eq!(jwks[1]["alg"], "PS256");
        assert_ne!(jwks[0]["kid"], jwks[1]["kid"]);
        assert_eq!(jwks[0]["n"], jwks[1]["n"]);
        let (ed, _) = SigningKey::generate(KeyType::Ed25519).unwrap();
        assert_eq!(ed.jwks()[0]["kty"], "OKP");
        assert_eq!(ed.jwks()[0]["crv"], "Ed25519");
        let (ec, _) = SigningKey::generate(KeyType::P256).unwrap();
        assert_eq!(ec.jwks()[0]["crv"], "P-256");
    }

    #[test]
    fn the_rsa_thumbprint_is_the_rfc_7638_one() {
        // RFC 7638 §3.1's example key and thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let public: serde_json::Map<String, Value> =
            [("e", "AQAB"), ("kty", "RSA"), ("n", n)].into_iter().map(|(k, v)| (k.to_string(), Value::from(v))).collect();
        let thumb = URL_SAFE_NO_PAD.encode(Sha256::digest(Value::Object(public).to_string().as_bytes()));
        assert_eq!(thumb, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }
}
