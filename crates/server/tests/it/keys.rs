//! Key rotation (docs/security.md, "Key rotation"): a next signing key is published before it
//! signs, a retiring one stays published until revoked, and a refresh-token MAC rotation signs
//! nobody out and breaks neither logins in flight nor opaque access tokens. Each node reloads its
//! keys from the store; these tests use a 50 ms reload interval and wait with a bounded deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ratchet_core::crypto::MasterKey;
use ratchet_core::jws::KeyType;
use ratchet_server::keys::{KeyKind, KeyState};
use ratchet_server::service::keys::KeyService;
use serde_json::Value;

use crate::support::*;

const EMAIL: &str = "keys@example.com";
const API: &str = "https://api.keys.test";

async fn spawn() -> TestApp {
    let app = TestApp::spawn_with(|c| c.key_reload_interval = Duration::from_millis(50)).await;
    app.user(EMAIL).await;
    app.api(API, false).await;
    app
}

fn service(app: &TestApp) -> KeyService {
    KeyService::new(app.state.store.clone(), Arc::new(app.clock.clone()), MasterKey::from_hex(MASTER_KEY).unwrap())
}

/// Waits until `done` holds, for at most ten seconds (several reload intervals).
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(Instant::now() < deadline, "not within 10 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The kids of the published JWKs of `alg` (RS256: the RSA keys' thumbprints).
async fn published_kids(app: &TestApp, alg: &str) -> Vec<String> {
    let jwks: Value = reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
    jwks["keys"].as_array().unwrap().iter().filter(|k| k["alg"] == alg).map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

/// The kids of the published RSA keys (their RS256 JWKs).
async fn jwks_kids(app: &TestApp) -> Vec<String> {
    published_kids(app, "RS256").await
}

/// The `kid` in a JWT's header.
fn kid_of(jwt: &str) -> String {
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').next().unwrap()).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_string()
}

/// The MAC key id a refresh token names.
fn mac_kid_of(refresh_token: &str) -> u8 {
    URL_SAFE_NO_PAD.decode(refresh_token).unwrap()[1]
}

async fn userinfo(app: &TestApp, access_token: &str) -> u16 {
    reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(access_token).send().await.unwrap().status().as_u16()
}

fn active_signer(app: &TestApp) -> String {
    app.state.keys.current().signing.active(KeyType::Rsa).kid().to_string()
}

/// Rotates the signing key to start at once and waits until the node signs with it; returns the
/// old and the new kid.
async fn rotate_signing_now(app: &TestApp) -> (String, String) {
    let old = active_signer(app);
    let next = service(app).rotate(KeyKind::Signing, 0).await.unwrap();
    let new = next.kid.unwrap();
    eventually("the node signs with the new key", async || active_signer(app) == new).await;
    (old, new)
}

#[tokio::test]
async fn rotated_signing_key_is_published_before_it_signs() {
    let app = spawn().await;
    let client = app.spa().await;
    let old = active_signer(&app);
    let next = service(&app).rotate(KeyKind::Signing, 600).await.unwrap();
    assert_eq!(next.state, KeyState::Next);
    assert_eq!(next.activates_at, ratchet_server::Clock::now(&app.clock) + 600);
    let new = next.kid.unwrap();
    eventually("the next key is in the JWKS", async || jwks_kids(&app).await.contains(&new)).await;
    let tokens = app.sign_in_tokens(&client, EMAIL, "openid", Some(API)).await;
    assert_eq!(kid_of(tokens["id_token"].as_str().unwrap()), old, "a published next key signs nothing before its time");
    assert_eq!(kid_of(tokens["access_token"].as_str().unwrap()), old);

    app.clock.advance(600);
    eventually("the next key becomes the signer", async || active_signer(&app) == new).await;
    let tokens = app.sign_in_tokens(&client, EMAIL, "openid", Some(API)).await;
    assert_eq!(kid_of(tokens["id_token"].as_str().unwrap()), new);
    assert_eq!(kid_of(tokens["access_token"].as_str().unwrap()), new);
}

#[tokio::test]
async fn old_signing_key_stays_published_until_revoked() {
    let app = spawn().await;
    let client = app.spa().await;
    let before = app.sign_in_tokens(&client, EMAIL, "openid", Some(API)).await;
    let jwt = before["access_token"].as_str().unwrap();
    let (old, new) = rotate_signing_now(&app).await;
    assert_eq!(jwks_kids(&app).await, vec![old.clone(), new.clone()], "the retiring key stays published");
    assert_eq!(userinfo(&app, jwt).await, 200, "tokens the retiring key signed still verify");

    let keys = service(&app);
    let retiring = keys.list().await.unwrap().into_iter().find(|k| k.kid.as_deref() == Some(old.as_str())).unwrap();
    assert_eq!(retiring.state, KeyState::Retiring);
    let until = retiring.verifies_until.expect("a retiring key has a verification window");
    assert_eq!(
        until,
        ratchet_server::Clock::now(&app.clock) + 86_400,
        "the longest signed-token lifetime (Management API tokens) after its retirement"
    );
    let refused = keys.revoke(KeyKind::Signing, &old, false).await.unwrap_err().to_string();
    assert!(refused.contains("--force"), "revoking inside the verification window is refused: {refused}");
    assert!(jwks_kids(&app).await.contains(&old));

    app.clock.set(until);
    let revoked = keys.revoke(KeyKind::Signing, &old, false).await.unwrap();
    assert_eq!(revoked.state, KeyState::Revoked);
    eventually("the revoked key leaves the JWKS", async || jwks_kids(&app).await == vec![new.clone()]).await;
}

#[tokio::test]
async fn revoked_signing_key_leaves_the_jwks() {
    let app = spawn().await;
    let client = app.spa().await;
    let before = app.sign_in_tokens(&client, EMAIL, "openid", Some(API)).await;
    let jwt = before["access_token"].as_str().unwrap();
    let (old, new) = rotate_signing_now(&app).await;
    let revoked = service(&app).revoke(KeyKind::Signing, &old, true).await.unwrap();
    assert_eq!((revoked.state, revoked.kid), (KeyState::Revoked, None), "the key's material is erased");
    eventually("the revoked key leaves the JWKS", async || jwks_kids(&app).await == vec![new.clone()]).await;
    assert_eq!(userinfo(&app, jwt).await, 401, "what the revoked key signed no longer verifies");
}

#[tokio::test]
async fn the_active_key_cannot_be_revoked() {
    let app = spawn().await;
    let keys = service(&app);
    for kind in [KeyKind::Signing, KeyKind::Refresh] {
        let err = keys.revoke(kind, "1", true).await.unwrap_err().to_string();
        assert!(err.contains("active"), "{err}");
    }
    assert_eq!(jwks_kids(&app).await, vec![active_signer(&app)]);
}

#[tokio::test]
async fn refresh_mac_rotation_signs_nobody_out() {
    let app = spawn().await;
    let client = app.spa().await;
    let rt = app.refresh_token(&client, EMAIL).await;
    let untouched = app.refresh_token(&client, EMAIL).await;
    assert_eq!(mac_kid_of(&rt), 1);

    // Prepublished: known to the node, not issuing yet.
    let next = service(&app).rotate(KeyKind::Refresh, 60).await.unwrap();
    assert_eq!((next.id, next.state), (2, KeyState::Next));
    app.clock.advance(60);
    eventually("the new MAC key issues", async || app.state.keys.current().refresh.issuing_kid() == 2).await;

    let (status, body) = app.refresh(&client, &rt).await;
    assert_eq!(status, 200, "a token made with the old key still refreshes: {body}");
    let successor = body["refresh_token"].as_str().unwrap();
    assert_eq!(mac_kid_of(successor), 2, "its successor is made with the new key");
    assert_eq!(app.refresh(&client, successor).await.0, 200);
    assert_eq!(app.refresh(&client, &untouched).await.0, 200, "every family survives the rotation");

    let refused = service(&app).revoke(KeyKind::Refresh, "1", false).await.unwrap_err().to_string();
    assert!(refused.contains("--force"), "revoking a MAC key that still verifies needs --force: {refused}");
}

#[tokio::test]
async fn opaque_access_tokens_survive_mac_rotation() {
    let app = spawn().await;
    let client = app.spa().await;
    let tokens = app.sign_in_tokens(&client, EMAIL, "openid profile", None).await;
    let opaque = tokens["access_token"].as_str().unwrap();
    assert_eq!(opaque.split('.').count(), 2, "no audience: an opaque userinfo token");
    // A login in flight: the transaction is sealed into the login page.
    let b = browser();
    let (_, challenge) = pkce();
    let a = Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope: "openid", audience: None, extra: vec![] };
    let r = b.get(app.authorize_url(&a, &challenge, "st4te")).send().await.unwrap();
    let login = r.headers()["location"].to_str().unwrap().to_string();
    let html = b.get(app.url(&login)).send().await.unwrap().text().await.unwrap();
    let tx = html.split("name=\"state\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();

    service(&app).rotate(KeyKind::Refresh, 0).await.unwrap();
    eventually("the new MAC key issues", async || app.state.keys.current().refresh.issuing_kid() == 2).await;

    assert_eq!(userinfo(&app, opaque).await, 200, "an opaque access token outlives a MAC rotation");
    let r = b
        .post(app.url("/u/login"))
        .header("origin", &app.base)
        .form(&[("state", tx.as_str()), ("username", EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "a login begun before the rotation completes");
    assert!(param(r.headers()["location"].to_str().unwrap(), "code").is_some());
}

#[tokio::test]
async fn every_signing_key_type_rotates_published_before_it_signs() {
    use ratchet_core::client::AppType;
    use ratchet_core::jws::SigningAlg;
    let app = spawn().await;
    let rsa = active_signer(&app);
    for (kind, alg, key_type) in
        [(KeyKind::SigningEc, SigningAlg::ES256, KeyType::P256), (KeyKind::SigningEd, SigningAlg::EdDSA, KeyType::Ed25519)]
    {
        let (client, _) = app.client_with(AppType::Spa, |c| c.id_token_alg = alg).await;
        let active = || app.state.keys.current().signing.active(key_type).kid().to_string();
        let old = active();
        let next = service(&app).rotate(kind, 600).await.unwrap();
        assert_eq!((next.kind, next.id, next.state), (kind, 2, KeyState::Next));
        let new = next.kid.unwrap();
        eventually("the next key is in the JWKS", async || published_kids(&app, alg.as_str()).await.contains(&new)).await;
        let before = app.sign_in_tokens(&client, EMAIL, "openid", None).await["id_token"].as_str().unwrap().to_string();
        assert_eq!(kid_of(&before), old, "a published next {alg} key signs nothing before its time");

        app.clock.advance(600);
        eventually("the next key becomes the signer", async || active() == new).await;
        let after = app.sign_in_tokens(&client, EMAIL, "openid", None).await["id_token"].as_str().unwrap().to_string();
        assert_eq!(kid_of(&after), new);
        assert_eq!(published_kids(&app, alg.as_str()).await, vec![old.clone(), new.clone()], "the retiring {alg} key stays published");
        assert!(app.state.keys.current().signing.verify(&before).is_some(), "what the retiring {alg} key signed still verifies");

        let revoked = service(&app).revoke(kind, &old, true).await.unwrap();
        assert_eq!(revoked.state, KeyState::Revoked);
        eventually("the revoked key leaves the JWKS", async || published_kids(&app, alg.as_str()).await == vec![new.clone()]).await;
        assert!(app.state.keys.current().signing.verify(&before).is_none());
    }
    assert_eq!(active_signer(&app), rsa, "rotating one key type leaves the others alone");
}
