//! DPoP (RFC 9449) over real HTTP: proof validation at the token endpoint, `/userinfo` and
//! `/oauth/revoke` (one test per rule of §4.3), binding of access tokens (`cnf.jkt`) and of public
//! clients' refresh-token families, server nonces (§8), the per-client policy, discovery and the
//! audit trail. Each test is named after the rule it checks.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ratchet_core::client::{AppType, Client};
use ratchet_core::dpop::ClientKey;
use ratchet_server::DpopConfig;
use serde_json::{Value, json};

use crate::support::*;

const EMAIL: &str = "dpop@example.com";
const SCOPE: &str = "openid profile email offline_access";

struct Dpop<'a> {
    app: &'a TestApp,
}

impl Dpop<'_> {
    fn htu(&self, path: &str) -> String {
        self.app.url(path)
    }

    fn now(&self) -> i64 {
        self.app.clock.now_for_tests()
    }

    /// A fresh proof by `key` for `POST /oauth/token`.
    fn token_proof(&self, key: &ClientKey) -> String {
        key.proof("POST", &self.htu("/oauth/token"), self.now(), None, None)
    }

    /// Signs in at `client` and exchanges the code with a proof by `key` (when given).
    async fn sign_in(&self, client: &Client, key: Option<&ClientKey>, audience: Option<&str>) -> (u16, Value) {
        let b = browser();
        let a = Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope: SCOPE, audience, extra: vec![] };
        let (code, verifier) = self.app.code(&b, &a, EMAIL).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", client.client_id.as_str()),
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
            ("redirect_uri", CALLBACK),
        ];
        match key {
            Some(k) => self.app.token_with_headers(&form, &[("DPoP", &self.token_proof(k))]).await,
            None => self.app.token(&form).await,
        }
    }

    async fn bound_refresh_token(&self, client: &Client, key: &ClientKey) -> String {
        let (s, body) = self.sign_in(client, Some(key), None).await;
        assert_eq!(s, 200, "{body}");
        body["refresh_token"].as_str().unwrap().to_string()
    }

    /// `grant_type=refresh_token` with the given `DPoP` header value (if any).
    async fn refresh(&self, client: &Client, rt: &str, proof: Option<&str>) -> (u16, Value) {
        let form = [("grant_type", "refresh_token"), ("client_id", client.client_id.as_str()), ("refresh_token", rt)];
        match proof {
            Some(p) => self.app.token_with_headers(&form, &[("DPoP", p)]).await,
            None => self.app.token(&form).await,
        }
    }

    async fn userinfo(&self, authorization: &str, proof: Option<&str>) -> reqwest::Response {
        let mut req = reqwest::Client::new().get(self.app.url("/userinfo")).header("authorization", authorization);
        if let Some(p) = proof {
            req = req.header("DPoP", p);
        }
        req.send().await.unwrap()
    }
}

async fn setup() -> (TestApp, Client) {
    let app = TestApp::spawn().await;
    app.user(EMAIL).await;
    let client = app.spa().await;
    (app, client)
}

#[track_caller]
fn assert_invalid_dpop_proof(status: u16, body: &Value, rule: &str) {
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{body}");
    let d = body["error_description"].as_str().unwrap();
    assert!(d.contains(rule), "the description names the rule ({rule}): {d}");
}

/// A proof by `key` with these header and claims, the other claims those of a valid token-endpoint proof.
fn proof_with(d: &Dpop<'_>, key: &ClientKey, header: Value, claims: Value) -> String {
    let mut c = json!({"jti": ratchet_core::secret::random_id(""), "htm": "POST", "htu": d.htu("/oauth/token"), "iat": d.now()});
    for (k, v) in claims.as_object().unwrap() {
        c[k] = v.clone();
    }
    key.sign_raw(&header, &c)
}

// ---- Binding ---------------------------------------------------------------------------------

#[tokio::test]
async fn code_exchange_with_a_proof_gets_dpop_tokens_bound_to_the_key() {
    let (app, client) = setup().await;
    app.api("https://api.dpop.test", true).await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let (s, body) = d.sign_in(&client, Some(&key), Some("https://api.dpop.test")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"], key.jkt(), "RFC 9449 §6.1: cnf.jkt in the JWT");
    let rt = body["refresh_token"].as_str().unwrap();
    assert_eq!(app.family_of(rt).await.jkt.as_deref(), Some(key.jkt()), "the public client's family is bound at birth");
    // Opaque (userinfo-only) access tokens carry the binding too.
    let (_, body) = d.sign_in(&client, Some(&key), None).await;
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(app.state.open_opaque(body["access_token"].as_str().unwrap()).unwrap().jkt.as_deref(), Some(key.jkt()));
}

#[tokio::test]
async fn code_exchange_without_a_proof_stays_bearer_and_unbound() {
    let (app, client) = setup().await;
    let (s, body) = Dpop { app: &app }.sign_in(&client, None, None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(app.family_of(body["refresh_token"].as_str().unwrap()).await.jkt, None);
}

#[tokio::test]
async fn refresh_of_a_bound_family_with_the_right_key_rotates_and_stays_bound() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let rt0 = d.bound_refresh_token(&client, &key).await;
    let (s, body) = d.refresh(&client, &rt0, Some(&d.token_proof(&key))).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let rt1 = body["refresh_token"].as_str().unwrap();
    let f = app.family_of(rt1).await;
    assert_eq!((f.counter, f.jkt.as_deref()), (1, Some(key.jkt())));
}

#[tokio::test]
async fn refresh_of_a_bound_family_without_proof_is_invalid_grant_and_keeps_the_family() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let rt0 = d.bound_refresh_token(&client, &key).await;
    let (s, body) = d.refresh(&client, &rt0, None).await;
    assert_invalid_refresh_token(s, &body, "a bound token without a proof");
    let f = app.family_of(&rt0).await;
    assert_eq!((f.counter, f.revoked_at), (0, None), "neither advanced nor revoked");
    let (s, body) = d.refresh(&client, &rt0, Some(&d.token_proof(&key))).await;
    assert_eq!(s, 200, "the key holder goes on: {body}");
    // An old token presented without the key is not reuse: the family survives.
    let (s, _) = d.refresh(&client, &rt0, None).await;
    assert_eq!(s, 403);
    assert_eq!(app.family_of(&rt0).await.revoked_at, None, "a thief without the key cannot sign the user out");
}

#[tokio::test]
async fn refresh_of_a_bound_family_with_another_key_is_invalid_grant_and_keeps_the_family() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let (key, thief) = (ClientKey::generate(), ClientKey::generate());
    let rt0 = d.bound_refresh_token(&client, &key).await;
    let (s, body) = d.refresh(&client, &rt0, Some(&d.token_proof(&thief))).await;
    assert_invalid_refresh_token(s, &body, "a bound token with another key");
    let f = app.family_of(&rt0).await;
    assert_eq!((f.counter, f.revoked_at), (0, None), "neither advanced nor revoked");
    let (s, body) = d.refresh(&client, &rt0, Some(&d.token_proof(&key))).await;
    assert_eq!(s, 200, "the right key still works afterwards: {body}");
    let rt1 = body["refresh_token"].as_str().unwrap().to_string();
    // The thief replays the old token with his key: refused, and still no reuse detection.
    let (s, _) = d.refresh(&client, &rt0, Some(&d.token_proof(&thief))).await;
    assert_eq!(s, 403);
    assert_eq!(app.family_of(&rt1).await.revoked_at, None);
    let (s, _) = d.refresh(&client, &rt1, Some(&d.token_proof(&key))).await;
    assert_eq!(s, 200, "the user stays signed in");
    let events = app.events("fertft").await;
    assert!(events.iter().any(|e| e.details["failure_reason"] == "dpop_key_mismatch"), "audited: {events:?}");
}

#[tokio::test]
async fn old_token_of_a_bound_family_with_its_key_is_still_reuse() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let rt0 = d.bound_refresh_token(&client, &key).await;
    let (s, _) = d.refresh(&client, &rt0, Some(&d.token_proof(&key))).await;
    assert_eq!(s, 200);
    let (s, _) = d.refresh(&client, &rt0, Some(&d.token_proof(&key))).await;
    assert_eq!(s, 403);
    assert!(app.family_of(&rt0).await.revoked_at.is_some(), "reuse by the key holder revokes, as without DPoP");
}

#[tokio::test]
async fn unbound_family_refreshed_with_a_proof_gets_a_bound_access_token_and_stays_unbound() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let rt0 = app.refresh_token(&client, EMAIL).await;
    let key = ClientKey::generate();
    let (s, body) = d.refresh(&client, &rt0, Some(&d.token_proof(&key))).await;
    assert_eq!((s, body["token_type"].as_str()), (200, Some("DPoP")), "{body}");
    assert_eq!(app.family_of(body["refresh_token"].as_str().unwrap()).await.jkt, None);
}

#[tokio::test]
async fn confidential_client_refresh_tokens_are_not_bound_but_access_tokens_are() {
    let (app, _) = setup().await;
    let (client, secret) = app.client_with(AppType::RegularWeb, |_| {}).await;
    let secret = secret.unwrap();
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let b = browser();
    let a = Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope: SCOPE, audience: None, extra: vec![] };
    let (code, verifier) = app.code(&b, &a, EMAIL).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client.client_id.as_str()),
        ("client_secret", secret.as_str()),
        ("code", code.as_str()),
        ("code_verifier", verifier.as_str()),
        ("redirect_uri", CALLBACK),
    ];
    let (s, body) = app.token_with_headers(&form, &[("DPoP", &d.token_proof(&key))]).await;
    assert_eq!((s, body["token_type"].as_str()), (200, Some("DPoP")), "{body}");
    let rt = body["refresh_token"].as_str().unwrap();
    assert_eq!(app.family_of(rt).await.jkt, None, "RFC 9449 §5: a confidential client's refresh token is not bound");
    let form = [("grant_type", "refresh_token"), ("client_id", &client.client_id), ("client_secret", &secret), ("refresh_token", rt)];
    let (s, body) = app.token(&form).await;
    assert_eq!((s, body["token_type"].as_str()), (200, Some("Bearer")), "{body}");
}

// ---- Proof validation at the token endpoint (RFC 9449 §4.3) -----------------------------------

#[tokio::test]
async fn proof_for_another_url_is_invalid_dpop_proof() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let rt = d.bound_refresh_token(&client, &key).await;
    let proof = key.proof("POST", &d.htu("/userinfo"), d.now(), None, None);
    let (s, body) = d.refresh(&client, &rt, Some(&proof)).await;
    assert_invalid_dpop_proof(s, &body, "htu");
    assert_eq!(app.family_of(&rt).await.counter, 0);
}

#[tokio::test]
async fn proof_for_another_method_is_invalid_dpop_proof() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let rt = d.bound_refresh_token(&client, &key).await;
    let (s, body) = d.refresh(&client, &rt, Some(&key.proof("GET", &d.htu("/oauth/token"), d.now(), None, None))).await;
    assert_invalid_dpop_proof(s, &body, "htm");
}

#[tokio::test]
async fn proof_with_stale_iat_is_invalid_dpop_proof() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let rt = d.bound_refresh_token(&client, &key).await;
    let (s, body) = d.refresh(&client, &rt, Some(&key.proof("POST", &d.htu("/oauth/token"), d.now() - 61, None, None))).await;
    assert_invalid_dpop_proof(s, &body, "iat is too old");
}

#[tokio::test]
async fn proof_with_future_iat_is_invalid_dpop_proof() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let rt = d.bound_refresh_token(&client, &key).await;
    let (s, body) = d.refresh(&client, &rt, Some(&key.proof("POST", &d.htu("/oauth/token"), d.now() + 61, None, None))).await;
    assert_invalid_dpop_proof(s, &body, "iat is in the future");
}

#[tokio::test]
async fn iat_window_is_configurable() {
    let app = TestApp::spawn_with(|c| c.dpop = DpopConfig { iat_window: 300, ..DpopConfig::default() }).await;
    app.user(EMAIL).await;
    let client = app.spa().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let rt = d.bound_refresh_token(&client, &key).await;
    let (s, body) = d.refresh(&client, &rt, Some(&key.proof("POST", &d.htu("/oauth/token"), d.now() - 200, None, None))).await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn replayed_proof_is_invalid_dpop_proof_and_keeps_the_family() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let rt0 = d.bound_refresh_token(&client, &key).await;
    let proof = d.token_proof(&key);
    let (s, body) = d.refresh(&client, &rt0, Some(&proof)).await;
    assert_eq!(s, 200, "{body}");
    let rt1 = body["refresh_token"].as_str().unwrap().to_string();
    // The same proof again, with the new token: the rotation's write refuses it.
    let (s, body) = d.refresh(&client, &rt1, Some(&proof)).await;
    assert_invalid_dpop_proof(s, &body, "jti");
    assert_eq!(app.family_of(&rt1).await.counter, 1, "the rotation was undone");
    // And with the old token (the slow path): refused before reuse detection.
    let (s, body) = d.refresh(&client, &rt0, Some(&proof)).await;
    assert_invalid_dpop_proof(s, &body, "jti");
    assert_eq!(app.family_of(&rt1).await.revoked_at, None, "a replayed proof has no effect");
    let events = app.events("fertft").await;
    assert!(events.iter().any(|e| e.details["failure_reason"] == "dpop_replay"), "audited: {events:?}");
}

#[tokio::test]
async fn replayed_proof_at_the_code_exchange_is_invalid_dpop_proof() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let proof = d.token_proof(&key);
    let a = Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope: SCOPE, audience: None, extra: vec![] };
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let (code, verifier) = app.code(&browser(), &a, EMAIL).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", client.client_id.as_str()),
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
            ("redirect_uri", CALLBACK),
        ];
        statuses.push(app.token_with_headers(&form, &[("DPoP", &proof)]).await);
    }
    assert_eq!(statuses[0].0, 200);
    assert_invalid_dpop_proof(statuses[1].0, &statuses[1].1, "jti");
    let events = app.events("feacft").await;
    assert!(events.iter().any(|e| e.details["failure_reason"] == "dpop_replay"), "audited: {events:?}");
}

#[tokio::test]
async fn proof_with_a_private_key_in_the_header_is_invalid_dpop_proof() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let rt = d.bound_refresh_token(&client, &key).await;
    let mut jwk = key.jwk().clone();
    jwk["d"] = URL_SAFE_NO_PAD.encode([7u8; 32]).into();
    let proof = proof_with(&d, &key, json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}), json!({}));
    let (s, body) = d.refresh(&client, &rt, Some(&proof)).await;
    assert_invalid_dpop_proof(s, &body, "public key");
}

#[tokio::test]
async fn proof_with_alg_none_is_invalid_dpop_proof() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let rt = d.bound_refresh_token(&client, &key).await;
    let signed = proof_with(&d, &key, json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk()}), json!({}));
    let unsigned = format!("{}.", signed.rsplit_once('.').unwrap().0);
    let (s, body) = d.refresh(&client, &rt, Some(&unsigned)).await;
    assert_invalid_dpop_proof(s, &body, "alg");
}

#[tokio::test]
async fn proof_with_alg_hs256_is_invalid_dpop_proof() {
    use hmac::Mac;
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let rt = d.bound_refresh_token(&client, &key).await;
    let h = URL_SAFE_NO_PAD.encode(json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": "c2VjcmV0"}}).to_string());
    let p = URL_SAFE_NO_PAD.encode(json!({"jti": "j", "htm": "POST", "htu": d.htu("/oauth/token"), "iat": d.now()}).to_string());
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"secret").unwrap();
    m.update(format!("{h}.{p}").as_bytes());
    let proof = format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()));
    let (s, body) = d.refresh(&client, &rt, Some(&proof)).await;
    assert_invalid_dpop_proof(s, &body, "alg");
}

#[tokio::test]
async fn proof_with_wrong_typ_is_invalid_dpop_proof() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let rt = d.bound_refresh_token(&client, &key).await;
    let proof = proof_with(&d, &key, json!({"typ": "JWT", "alg": "ES256", "jwk": key.jwk()}), json!({}));
    let (s, body) = d.refresh(&client, &rt, Some(&proof)).await;
    assert_invalid_dpop_proof(s, &body, "typ");
}

#[tokio::test]
async fn proof_with_a_bad_signature_is_invalid_dpop_proof() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let (key, other) = (ClientKey::generate(), ClientKey::generate());
    let rt = d.bound_refresh_token(&client, &key).await;
    let proof = proof_with(&d, &other, json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk()}), json!({}));
    let (s, body) = d.refresh(&client, &rt, Some(&proof)).await;
    assert_invalid_dpop_proof(s, &body, "signature");
}

#[tokio::test]
async fn two_dpop_headers_are_invalid_dpop_proof() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let rt = d.bound_refresh_token(&client, &key).await;
    let form = [("grant_type", "refresh_token"), ("client_id", client.client_id.as_str()), ("refresh_token", rt.as_str())];
    let (s, body) = app.token_with_headers(&form, &[("DPoP", &d.token_proof(&key)), ("DPoP", &d.token_proof(&key))]).await;
    assert_invalid_dpop_proof(s, &body, "exactly one DPoP header");
}

// ---- Policy, discovery, CORS -----------------------------------------------------------------

#[tokio::test]
async fn client_requiring_dpop_refuses_token_requests_without_a_proof() {
    let app = TestApp::spawn().await;
    app.user(EMAIL).await;
    let (client, _) = app.client_with(AppType::Spa, |c| c.require_proof_of_possession = true).await;
    let d = Dpop { app: &app };
    let (s, body) = d.sign_in(&client, None, None).await;
    assert_invalid_dpop_proof(s, &body, "requires a DPoP proof");
    let key = ClientKey::generate();
    let (s, body) = d.sign_in(&client, Some(&key), None).await;
    assert_eq!((s, body["token_type"].as_str()), (200, Some("DPoP")), "{body}");
    let rt = body["refresh_token"].as_str().unwrap();
    let (s, body) = d.refresh(&client, rt, None).await;
    assert_invalid_dpop_proof(s, &body, "requires a DPoP proof");
    let events = app.events("feacft").await;
    assert!(events.iter().any(|e| e.details["failure_reason"] == "dpop_required"), "{events:?}");
}

#[tokio::test]
async fn discovery_advertises_the_dpop_signing_algorithms() {
    let app = TestApp::spawn().await;
    let conf: Value = reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(conf["dpop_signing_alg_values_supported"], json!(["ES256", "RS256", "PS256", "EdDSA"]));
}

#[tokio::test]
async fn nonce_required_then_supplied() {
    let app = TestApp::spawn_with(|c| c.dpop = DpopConfig { nonce: true, ..DpopConfig::default() }).await;
    // Start at the beginning of a nonce period (300 s), so the steps below land where they should.
    let now = app.clock.now_for_tests();
    app.clock.set(now - now.rem_euclid(300) + 300);
    app.user(EMAIL).await;
    let client = app.spa().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let b = browser();
    let a = Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope: SCOPE, audience: None, extra: vec![] };
    let (code, verifier) = app.code(&b, &a, EMAIL).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client.client_id.as_str()),
        ("code", code.as_str()),
        ("code_verifier", verifier.as_str()),
        ("redirect_uri", CALLBACK),
    ];
    let send = |proof: String| {
        reqwest::Client::new().post(app.url("/oauth/token")).header("DPoP", proof).header("origin", SPA_ORIGIN).form(&form).send()
    };
    let r = send(d.token_proof(&key)).await.unwrap();
    assert_eq!(r.status(), 400);
    let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_string();
    let exposed = r.headers()["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(exposed.contains("dpop-nonce"), "CORS exposes DPoP-Nonce: {exposed}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "use_dpop_nonce");
    // The code was not spent by the refused request; with the nonce it goes through.
    let r = send(key.proof("POST", &d.htu("/oauth/token"), d.now(), None, Some(&nonce))).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    // A nonce stays valid into the next period, not beyond; any node derives the same ones.
    app.clock.advance(400);
    let (s, body) = d.refresh(&client, &rt, Some(&key.proof("POST", &d.htu("/oauth/token"), d.now(), None, Some(&nonce)))).await;
    assert_eq!(s, 200, "{body}");
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    app.clock.advance(300);
    let (s, body) = d.refresh(&client, &rt, Some(&key.proof("POST", &d.htu("/oauth/token"), d.now(), None, Some(&nonce)))).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("use_dpop_nonce")), "{body}");
    let other_node = ratchet_core::dpop::NonceKey::new(&app.state.keys.dpop_nonce, 300);
    let fresh = other_node.current(d.now());
    let (s, body) = d.refresh(&client, &rt, Some(&key.proof("POST", &d.htu("/oauth/token"), d.now(), None, Some(&fresh)))).await;
    assert_eq!(s, 200, "{body}");
}

// ---- /userinfo (RFC 9449 §7) -------------------------------------------------------------------

#[tokio::test]
async fn userinfo_accepts_a_dpop_bound_token_with_a_proof_by_its_key() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let (_, body) = d.sign_in(&client, Some(&key), None).await;
    let at = body["access_token"].as_str().unwrap();
    let r = d.userinfo(&format!("DPoP {at}"), Some(&key.proof("GET", &d.htu("/userinfo"), d.now(), Some(at), None))).await;
    assert_eq!(r.status(), 200);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["email"], EMAIL);
}

#[tokio::test]
async fn userinfo_refuses_a_dpop_bound_token_sent_as_bearer() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let (_, body) = d.sign_in(&client, Some(&key), None).await;
    let at = body["access_token"].as_str().unwrap();
    let r = d.userinfo(&format!("Bearer {at}"), None).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(challenge.starts_with("DPoP ") && challenge.contains("invalid_token"), "{challenge}");
}

#[tokio::test]
async fn userinfo_proof_with_wrong_ath_is_401_invalid_dpop_proof() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let (_, body) = d.sign_in(&client, Some(&key), None).await;
    let at = body["access_token"].as_str().unwrap();
    let r = d.userinfo(&format!("DPoP {at}"), Some(&key.proof("GET", &d.htu("/userinfo"), d.now(), Some("another token"), None))).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(
        challenge.starts_with("DPoP ") && challenge.contains(r#"error="invalid_dpop_proof""#) && challenge.contains("ath"),
        "{challenge}"
    );
}

#[tokio::test]
async fn userinfo_refuses_a_proof_by_another_key_than_the_token_is_bound_to() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let (key, thief) = (ClientKey::generate(), ClientKey::generate());
    let (_, body) = d.sign_in(&client, Some(&key), None).await;
    let at = body["access_token"].as_str().unwrap();
    let r = d.userinfo(&format!("DPoP {at}"), Some(&thief.proof("GET", &d.htu("/userinfo"), d.now(), Some(at), None))).await;
    assert_eq!(r.status(), 401);
    let r = d.userinfo(&format!("DPoP {at}"), None).await;
    assert_eq!(r.status(), 401, "the DPoP scheme needs a proof");
}

#[tokio::test]
async fn userinfo_refuses_a_replayed_proof() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let key = ClientKey::generate();
    let (_, body) = d.sign_in(&client, Some(&key), None).await;
    let at = body["access_token"].as_str().unwrap();
    let proof = key.proof("GET", &d.htu("/userinfo"), d.now(), Some(at), None);
    assert_eq!(d.userinfo(&format!("DPoP {at}"), Some(&proof)).await.status(), 200);
    let r = d.userinfo(&format!("DPoP {at}"), Some(&proof)).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("invalid_dpop_proof"));
}

// ---- /oauth/revoke -----------------------------------------------------------------------------

#[tokio::test]
async fn revoking_a_bound_family_needs_a_proof_by_its_key() {
    let (app, client) = setup().await;
    let d = Dpop { app: &app };
    let (key, thief) = (ClientKey::generate(), ClientKey::generate());
    let rt = d.bound_refresh_token(&client, &key).await;
    let revoke = |proof: Option<String>| {
        let mut req =
            reqwest::Client::new().post(app.url("/oauth/revoke")).form(&[("client_id", client.client_id.as_str()), ("token", rt.as_str())]);
        if let Some(p) = proof {
            req = req.header("DPoP", p);
        }
        req.send()
    };
    assert_eq!(revoke(None).await.unwrap().status(), 200, "RFC 7009: no error for a token it does not revoke");
    assert_eq!(revoke(Some(thief.proof("POST", &d.htu("/oauth/revoke"), d.now(), None, None))).await.unwrap().status(), 200);
    assert_eq!(app.family_of(&rt).await.revoked_at, None, "whoever has only the token cannot sign the user out");
    let r = revoke(Some(key.proof("POST", &d.htu("/oauth/token"), d.now(), None, None))).await.unwrap();
    assert_eq!(r.status(), 400, "a proof for another URL is refused");
    assert_eq!(revoke(Some(key.proof("POST", &d.htu("/oauth/revoke"), d.now(), None, None))).await.unwrap().status(), 200);
    assert!(app.family_of(&rt).await.revoked_at.is_some(), "the key holder can");
    let events = app.events("frrt").await;
    assert!(events.iter().any(|e| e.details["failure_reason"] == "dpop_key_mismatch"), "{events:?}");
}
