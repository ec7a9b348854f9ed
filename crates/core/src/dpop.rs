//! DPoP proofs (RFC 9449): validation of a `DPoP` header per §4.3, the JWK SHA-256 thumbprint of
//! RFC 7638 that binds tokens to the key (`cnf.jkt`, §6), the access-token hash `ath` (§4.2),
//! `htu` normalisation, and stateless server nonces (§8) derived from a server key and the time.
//!
//! Everything here is a pure function of its inputs and `now`; the replay cache (§11.1) is the
//! store's business, keyed by [`Proof::replay_key`].

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::UnixTime;
use crate::secret::ct_eq;

/// The proof signature algorithms accepted (asymmetric only; never `none` or `HS*`), as advertised
/// in discovery's `dpop_signing_alg_values_supported`.
pub const SIGNING_ALGS: [&str; 4] = ["ES256", "RS256", "PS256", "EdDSA"];

/// Default acceptance window for a proof's `iat`, in seconds either side of `now`.
pub const DEFAULT_IAT_WINDOW: i64 = 60;

/// Longest `DPoP` header value accepted (an RSA-4096 proof is well under 2 KB).
const MAX_PROOF_LEN: usize = 8 * 1024;
/// Longest `jti` accepted.
const MAX_JTI_LEN: usize = 256;
/// JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a proof is refused. `reason` is the stable code recorded in the audit trail; `description`
/// names the RFC 9449 rule for the `error_description`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofError {
    pub reason: &'static str,
    pub description: String,
}

impl ProofError {
    pub fn new(reason: &'static str, description: impl Into<String>) -> Self {
        ProofError { reason, description: description.into() }
    }
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

/// What the request a proof is attached to looks like.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The request method, e.g. `POST`.
    pub htm: &'a str,
    /// The request's target URI as the server publishes it (normalised with [`normalize_htu`]).
    pub htu: &'a str,
    pub now: UnixTime,
    /// `iat` must lie within `now ± iat_window` seconds.
    pub iat_window: i64,
    /// The access token presented with the proof, if any: the proof must then carry its `ath`.
    pub access_token: Option<&'a str>,
}

/// A valid proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key, base64url.
    pub jkt: String,
    pub jti: String,
    pub iat: UnixTime,
    /// The `nonce` claim, for the caller to check against the server's nonces.
    pub nonce: Option<String>,
}

impl Proof {
    /// The replay-cache key: SHA-256 of the key thumbprint and the `jti`, hex. (Keyed by the key
    /// too, so one client's `jti` choice cannot collide with another's.)
    pub fn replay_key(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"dpop jti\0");
        h.update(self.jkt.as_bytes());
        h.update(b"\0");
        h.update(self.jti.as_bytes());
        hex::encode(h.finalize())
    }

    /// Until when the replay cache must remember this proof: past that, its `iat` is out of the
    /// window anyway.
    pub fn replay_expiry(&self, now: UnixTime, iat_window: i64) -> UnixTime {
        self.iat.max(now) + iat_window
    }
}

/// The `ath` of an access token: base64url(SHA-256(token)) (RFC 9449 §4.2).
pub fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// Normalises an HTTP URI for the `htu` comparison (RFC 9449 §4.3 item 9; RFC 3986 §6.2.2–6.2.3):
/// lower-case scheme and host, default port removed, empty path as `/`, query and fragment
/// dropped. `None` if it is not an absolute http(s) URI with a host.
pub fn normalize_htu(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    if !matches!(u.scheme(), "http" | "https") || !u.username().is_empty() || u.password().is_some() {
        return None;
    }
    let host = u.host_str()?;
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = if u.path().is_empty() { "/" } else { u.path() };
    Some(format!("{}://{host}{port}{path}", u.scheme()))
}

/// The RFC 7638 thumbprint of a public JWK: SHA-256 over its required members in lexicographic
/// order, base64url. `None` for key types this server does not accept.
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let s = |k: &str| jwk.get(k).and_then(Value::as_str);
    // serde_json escapes strings as RFC 7638 §3.3 requires; member order is written out by hand.
    let q = |v: &str| Value::from(v).to_string();
    let input = match s("kty")? {
        "EC" => format!(r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#, q(s("crv")?), q(s("x")?), q(s("y")?)),
        "RSA" => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, q(s("e")?), q(s("n")?)),
        "OKP" => format!(r#"{{"crv":{},"kty":"OKP","x":{}}}"#, q(s("crv")?), q(s("x")?)),
        _ => return None,
    };
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(input.as_bytes())))
}

fn b64(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// Verifies `signature` over `input` with the public `jwk` under `alg`; the key type must be the
/// one `alg` requires.
fn verify_signature(alg: &str, jwk: &Map<String, Value>, input: &[u8], signature: &[u8]) -> Result<(), ProofError> {
    let s = |k: &str| jwk.get(k).and_then(Value::as_str);
    let bad_jwk = |what: &str| ProofError::new("dpop_jwk", format!("DPoP proof jwk is not a valid {what} public key for alg {alg}"));
    let bad_sig = || ProofError::new("dpop_signature", "DPoP proof signature does not verify with the jwk in its header");
    match alg {
        "ES256" => {
            if s("kty") != Some("EC") || s("crv") != Some("P-256") {
                return Err(bad_jwk("P-256"));
            }
            let (x, y) = (s("x").and_then(b64), s("y").and_then(b64));
            let (Some(x), Some(y)) = (x, y) else { return Err(bad_jwk("P-256")) };
            if x.len() != 32 || y.len() != 32 {
                return Err(bad_jwk("P-256"));
            }
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(input, signature).map_err(|_| bad_sig())
        }
        "RS256" | "PS256" => {
            if s("kty") != Some("RSA") {
                return Err(bad_jwk("RSA"));
            }
            let (Some(n), Some(e)) = (s("n").and_then(b64), s("e").and_then(b64)) else { return Err(bad_jwk("RSA")) };
            let params = if alg == "RS256" { &RSA_PKCS1_2048_8192_SHA256 } else { &RSA_PSS_2048_8192_SHA256 };
            RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }.verify(params, input, signature).map_err(|_| bad_sig())
        }
        "EdDSA" => {
            if s("kty") != Some("OKP") || s("crv") != Some("Ed25519") {
                return Err(bad_jwk("Ed25519"));
            }
            let Some(x) = s("x").and_then(b64).filter(|x| x.len() == 32) else { return Err(bad_jwk("Ed25519")) };
            UnparsedPublicKey::new(&ED25519, x).verify(input, signature).map_err(|_| bad_sig())
        }
        _ => Err(ProofError::new("dpop_alg", "DPoP proof alg is not supported")),
    }
}

fn json_object(part: &str, what: &str) -> Result<Map<String, Value>, ProofError> {
    let malformed = || ProofError::new("dpop_malformed", format!("DPoP proof {what} is not base64url-encoded JSON object"));
    let bytes = b64(part).ok_or_else(malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(malformed()),
    }
}

/// Validates a proof against the request it came with (RFC 9449 §4.3, checks 2–12; the caller
/// checks that there is exactly one `DPoP` header (1), the `nonce` (10) and the `jti` replay (12)).
pub fn verify(proof: &str, expected: &Expected<'_>) -> Result<Proof, ProofError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::new("dpop_malformed", "DPoP proof is too long"));
    }
    let mut parts = proof.split('.');
    let (Some(h), Some(p), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(ProofError::new("dpop_malformed", "DPoP proof is not a compact JWS (three parts)"));
    };
    let header = json_object(h, "header")?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(ProofError::new("dpop_typ", "DPoP proof typ must be dpop+jwt"));
    }
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or_default();
    if !SIGNING_ALGS.contains(&alg) {
        return Err(ProofError::new(
            "dpop_alg",
            format!(
                "DPoP proof alg must be an asymmetric algorithm ({}); none and symmetric algorithms are refused",
                SIGNING_ALGS.join(", ")
            ),
        ));
    }
    let Some(Value::Object(jwk)) = header.get("jwk") else {
        return Err(ProofError::new("dpop_jwk", "DPoP proof header must carry the public key as jwk"));
    };
    if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        return Err(ProofError::new("dpop_private_key", format!("DPoP proof jwk must be a public key (it has the private member {m})")));
    }
    let signature = b64(sig).ok_or_else(|| ProofError::new("dpop_malformed", "DPoP proof signature is not base64url"))?;
    let signing_input = &proof[..h.len() + 1 + p.len()];
    verify_signature(alg, jwk, signing_input.as_bytes(), &signature)?;
    let jkt = thumbprint(jwk).ok_or_else(|| ProofError::new("dpop_jwk", "DPoP proof jwk has an unsupported key type"))?;

    let claims = json_object(p, "payload")?;
    let jti = claims.get("jti").and_then(Value::as_str).filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN);
    let Some(jti) = jti else {
        return Err(ProofError::new("dpop_jti", "DPoP proof must carry a jti (1 to 256 characters)"));
    };
    if claims.get("htm").and_then(Value::as_str) != Some(expected.htm) {
        return Err(ProofError::new("dpop_htm", format!("DPoP proof htm does not match the request method {}", expected.htm)));
    }
    let htu = claims.get("htu").and_then(Value::as_str).and_then(normalize_htu);
    if htu.as_deref() != normalize_htu(expected.htu).as_deref() {
        return Err(ProofError::new("dpop_htu", format!("DPoP proof htu does not match the request URI {}", expected.htu)));
    }
    let Some(iat) = claims.get("iat").and_then(Value::as_i64) else {
        return Err(ProofError::new("dpop_iat", "DPoP proof must carry iat as a number of seconds"));
    };
    if iat < expected.now - expected.iat_window {
        return Err(ProofError::new("dpop_iat", "DPoP proof iat is too old"));
    }
    if iat > expected.now + expected.iat_window {
        return Err(ProofError::new("dpop_iat", "DPoP proof iat is in the future"));
    }
    if let Some(token) = expected.access_token {
        let given = claims.get("ath").and_then(Value::as_str).unwrap_or_default();
        if !ct_eq(given.as_bytes(), ath(token).as_bytes()) {
            return Err(ProofError::new("dpop_ath", "DPoP proof ath does not match the access token"));
        }
    }
    let nonce = claims.get("nonce").and_then(Value::as_str).map(str::to_string);
    Ok(Proof { jkt, jti: jti.to_string(), iat, nonce })
}

/// Stateless server nonces (RFC 9449 §8): the nonce of a time step is an HMAC of the step under a
/// key every node shares, so any node can issue and check them without storing anything. A nonce
/// is accepted during its own step and the next one, so it lives between one and two `lifetime`s.
#[derive(Clone)]
pub struct NonceKey {
    mac: Hmac<Sha256>,
    lifetime: i64,
}

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceKey").field("lifetime", &self.lifetime).finish_non_exhaustive()
    }
}

impl NonceKey {
    /// `lifetime` is the length of a step in seconds (at least 1).
    pub fn new(key: &[u8], lifetime: i64) -> Self {
        NonceKey { mac: Hmac::new_from_slice(key).expect("HMAC takes keys of any length"), lifetime: lifetime.max(1) }
    }

    fn for_step(&self, step: i64) -> String {
        let mut m = self.mac.clone();
        m.update(b"ratchet dpop nonce v1");
        m.update(&step.to_be_bytes());
        URL_SAFE_NO_PAD.encode(&m.finalize().into_bytes()[..18])
    }

    /// The nonce to hand out at `now`.
    pub fn current(&self, now: UnixTime) -> String {
        self.for_step(now.div_euclid(self.lifetime))
    }

    /// Whether `nonce` is the current or the previous step's.
    pub fn accepts(&self, nonce: &str, now: UnixTime) -> bool {
        let step = now.div_euclid(self.lifetime);
        [step, step - 1].iter().any(|s| ct_eq(self.for_step(*s).as_bytes(), nonce.as_bytes()))
    }
}

/// A client-side ES256 DPoP key: what an SPA holds in WebCrypto, for Rust clients, tests and the
/// benchmark.
pub struct ClientKey {
    pair: aws_lc_rs::signature::EcdsaKeyPair,
    jwk: Value,
    jkt: String,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey").field("jkt", &self.jkt).finish_non_exhaustive()
    }
}

impl ClientKey {
    /// A fresh P-256 key.
    pub fn generate() -> Self {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key generation");
        let point = pair.public_key().as_ref();
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        let jkt = thumbprint(jwk.as_object().expect("an object")).expect("an EC key has a thumbprint");
        ClientKey { pair, jwk, jkt }
    }

    /// The key's RFC 7638 thumbprint.
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// The public JWK.
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// Signs arbitrary `header` and `claims` (tests use this to build invalid proofs).
    pub fn sign_raw(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = self.pair.sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes()).expect("ECDSA signing");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    /// A proof for `htm` `htu` at `iat`, with `ath` of `access_token` and `nonce` when given.
    pub fn proof(&self, htm: &str, htu: &str, iat: UnixTime, access_token: Option<&str>, nonce: Option<&str>) -> String {
        let mut claims = serde_json::json!({"jti": crate::secret::random_id(""), "htm": htm, "htu": htu, "iat": iat});
        if let Some(t) = access_token {
            claims["ath"] = ath(t).into();
        }
        if let Some(n) = nonce {
            claims["nonce"] = n.into();
        }
        self.sign_raw(&serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk}), &claims)
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaKeyPair};
    use serde_json::json;

    use super::*;

    const HTU: &str = "https://auth.example/oauth/token";
    const NOW: i64 = 1_700_000_000;

    fn expected() -> Expected<'static> {
        Expected { htm: "POST", htu: HTU, now: NOW, iat_window: 60, access_token: None }
    }

    fn claims() -> Value {
        json!({"jti": "j1", "htm": "POST", "htu": HTU, "iat": NOW})
    }

    fn reason(r: Result<Proof, ProofError>) -> &'static str {
        r.expect_err("the proof is refused").reason
    }

    #[test]
    fn valid_es256_proof_is_accepted_with_its_thumbprint() {
        let k = ClientKey::generate();
        let p = verify(&k.proof("POST", HTU, NOW, None, Some("n1")), &expected()).unwrap();
        assert_eq!(p.jkt, k.jkt());
        assert_eq!(p.nonce.as_deref(), Some("n1"));
        assert_eq!(p.iat, NOW);
    }

    #[test]
    fn rfc7638_thumbprint_matches_the_rfc_example() {
        // RFC 7638 §3.1.
        let jwk = json!({"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
        assert_eq!(thumbprint(jwk.as_object().unwrap()).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn htu_is_compared_after_normalisation() {
        assert_eq!(normalize_htu("HTTPS://Auth.Example:443/oauth/token?x=1#f").as_deref(), Some(HTU));
        assert_eq!(normalize_htu("http://a.test:80").as_deref(), Some("http://a.test/"));
        assert_eq!(normalize_htu("http://a.test:8080/p").as_deref(), Some("http://a.test:8080/p"));
        assert_eq!(normalize_htu("ftp://a.test/"), None);
        assert_eq!(normalize_htu("/oauth/token"), None);
        let k = ClientKey::generate();
        assert!(verify(&k.proof("POST", "https://AUTH.example:443/oauth/token?q#f", NOW, None, None), &expected()).is_ok());
    }

    #[test]
    fn proof_for_another_url_is_invalid_dpop_proof() {
        let k = ClientKey::generate();
        assert_eq!(reason(verify(&k.proof("POST", "https://auth.example/userinfo", NOW, None, None), &expected())), "dpop_htu");
        assert_eq!(reason(verify(&k.proof("POST", "https://other.example/oauth/token", NOW, None, None), &expected())), "dpop_htu");
    }

    #[test]
    fn proof_for_another_method_is_invalid_dpop_proof() {
        let k = ClientKey::generate();
        assert_eq!(reason(verify(&k.proof("GET", HTU, NOW, None, None), &expected())), "dpop_htm");
    }

    #[test]
    fn proof_with_stale_or_future_iat_is_invalid_dpop_proof() {
        let k = ClientKey::generate();
        assert!(verify(&k.proof("POST", HTU, NOW - 60, None, None), &expected()).is_ok());
        assert!(verify(&k.proof("POST", HTU, NOW + 60, None, None), &expected()).is_ok());
        let stale = verify(&k.proof("POST", HTU, NOW - 61, None, None), &expected()).unwrap_err();
        assert_eq!((stale.reason, stale.description.as_str()), ("dpop_iat", "DPoP proof iat is too old"));
        let future = verify(&k.proof("POST", HTU, NOW + 61, None, None), &expected()).unwrap_err();
        assert_eq!(future.description, "DPoP proof iat is in the future");
    }

    #[test]
    fn proof_with_alg_none_is_invalid_dpop_proof() {
        let k = ClientKey::generate();
        let h = URL_SAFE_NO_PAD.encode(json!({"typ": "dpop+jwt", "alg": "none", "jwk": k.jwk()}).to_string());
        let p = URL_SAFE_NO_PAD.encode(claims().to_string());
        assert_eq!(reason(verify(&format!("{h}.{p}."), &expected())), "dpop_alg");
    }

    #[test]
    fn proof_with_alg_hs256_is_invalid_dpop_proof() {
        use hmac::Mac;
        let jwk = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(b"secret")});
        let h = URL_SAFE_NO_PAD.encode(json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk}).to_string());
        let p = URL_SAFE_NO_PAD.encode(claims().to_string());
        let mut m = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        m.update(format!("{h}.{p}").as_bytes());
        let s = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
        assert_eq!(reason(verify(&format!("{h}.{p}.{s}"), &expected())), "dpop_alg");
    }

    #[test]
    fn proof_with_a_private_key_in_the_header_is_invalid_dpop_proof() {
        let k = ClientKey::generate();
        let mut jwk = k.jwk().clone();
        jwk["d"] = "c2VjcmV0".into();
        let proof = k.sign_raw(&json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}), &claims());
        assert_eq!(reason(verify(&proof, &expected())), "dpop_private_key");
    }

    #[test]
    fn proof_with_wrong_typ_or_without_jwk_is_invalid_dpop_proof() {
        let k = ClientKey::generate();
        assert_eq!(reason(verify(&k.sign_raw(&json!({"typ": "JWT", "alg": "ES256", "jwk": k.jwk()}), &claims()), &expected())), "dpop_typ");
        assert_eq!(reason(verify(&k.sign_raw(&json!({"typ": "dpop+jwt", "alg": "ES256"}), &claims()), &expected())), "dpop_jwk");
        assert_eq!(reason(verify("a.b", &expected())), "dpop_malformed");
    }

    #[test]
    fn proof_signed_by_another_key_than_its_jwk_is_invalid_dpop_proof() {
        let (k, other) = (ClientKey::generate(), ClientKey::generate());
        let proof = other.sign_raw(&json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": k.jwk()}), &claims());
        assert_eq!(reason(verify(&proof, &expected())), "dpop_signature");
        // A key of the wrong type for the alg.
        let proof = k.sign_raw(&json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": k.jwk()}), &claims());
        assert_eq!(reason(verify(&proof, &expected())), "dpop_jwk");
    }

    #[test]
    fn proof_without_jti_is_invalid_dpop_proof() {
        let k = ClientKey::generate();
        let proof =
            k.sign_raw(&json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": k.jwk()}), &json!({"htm": "POST", "htu": HTU, "iat": NOW}));
        assert_eq!(reason(verify(&proof, &expected())), "dpop_jti");
    }

    #[test]
    fn proof_with_wrong_ath_is_invalid_dpop_proof() {
        let k = ClientKey::generate();
        let with_token = Expected { access_token: Some("at-1"), ..expected() };
        assert!(verify(&k.proof("POST", HTU, NOW, Some("at-1"), None), &with_token).is_ok());
        assert_eq!(reason(verify(&k.proof("POST", HTU, NOW, Some("at-2"), None), &with_token)), "dpop_ath");
        assert_eq!(reason(verify(&k.proof("POST", HTU, NOW, None, None), &with_token)), "dpop_ath");
    }

    #[test]
    fn rs256_ps256_and_eddsa_proofs_verify() {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let rsa = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let jwk = json!({"kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(rsa.public_key().modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(rsa.public_key().exponent().big_endian_without_leading_zero())});
        for (alg, pad) in [("RS256", &RSA_PKCS1_SHA256 as &dyn aws_lc_rs::signature::RsaEncoding), ("PS256", &RSA_PSS_SHA256)] {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk}).to_string()),
                URL_SAFE_NO_PAD.encode(claims().to_string())
            );
            let mut sig = vec![0; rsa.public_modulus_len()];
            rsa.sign(pad, &rng, input.as_bytes(), &mut sig).unwrap();
            let p = verify(&format!("{input}.{}", URL_SAFE_NO_PAD.encode(&sig)), &expected()).unwrap();
            assert_eq!(p.jkt, thumbprint(jwk.as_object().unwrap()).unwrap(), "{alg}");
        }
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let ed = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(ed.public_key().as_ref())});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk}).to_string()),
            URL_SAFE_NO_PAD.encode(claims().to_string())
        );
        let sig = ed.sign(input.as_bytes());
        assert!(verify(&format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())), &expected()).is_ok());
    }

    #[test]
    fn replay_key_depends_on_key_and_jti() {
        let p = Proof { jkt: "a".into(), jti: "j".into(), iat: NOW, nonce: None };
        let q = Proof { jkt: "b".into(), ..p.clone() };
        assert_ne!(p.replay_key(), q.replay_key());
        assert_eq!(p.replay_expiry(NOW + 5, 60), NOW + 65);
    }

    #[test]
    fn server_nonce_rotates_and_stays_valid_for_one_more_step() {
        let k = NonceKey::new(b"key", 300);
        let n = k.current(NOW);
        assert!(k.accepts(&n, NOW));
        assert!(k.accepts(&n, NOW + 300));
        assert!(!k.accepts(&n, NOW + 600));
        assert_ne!(k.current(NOW + 600), n);
        assert!(!NonceKey::new(b"other", 300).accepts(&n, NOW), "another deployment's nonce");
        assert!(!k.accepts("garbage", NOW));
    }
}
