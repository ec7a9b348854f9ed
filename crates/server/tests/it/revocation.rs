//! Revocation of refresh-token families (RFC 7009; Auth0 RTR spec §1.3, §4, §8): the revocation
//! endpoint, blocking and deleting users, ending sessions, and the 200-family limit.

use ratchet_core::client::{AppType, Client};
use ratchet_core::family::MAX_FAMILIES_PER_USER_CLIENT;
use ratchet_core::family::{Family, FamilyGrant, FamilyId};
use ratchet_server::Clock;
use ratchet_store::Seen;
use serde_json::{Value, json};

use crate::support::*;

const EMAIL: &str = "alice@example.com";

/// `POST /oauth/revoke` with a form body; returns the status and the raw body.
async fn revoke_form(app: &TestApp, form: &[(&str, &str)]) -> (u16, String) {
    let r = reqwest::Client::new().post(app.url("/oauth/revoke")).form(form).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn revoke_json(app: &TestApp, body: &Value) -> (u16, String) {
    let r = reqwest::Client::new().post(app.url("/oauth/revoke")).json(body).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn rotate(app: &TestApp, client: &Client, rt: &str) -> String {
    let (s, body) = app.refresh(client, rt).await;
    assert_eq!(s, 200, "{body}");
    body["refresh_token"].as_str().expect("a rotating client gets a refresh token").to_string()
}

async fn assert_dead(app: &TestApp, client: &Client, rt: &str, what: &str) {
    let (s, body) = app.refresh(client, rt).await;
    assert_invalid_refresh_token(s, &body, what);
}

async fn assert_live(app: &TestApp, client: &Client, rt: &str, what: &str) {
    let (s, body) = app.refresh(client, rt).await;
    assert_eq!(s, 200, "{what}: {body}");
}

/// A refresh token for a confidential client (code exchange authenticated with its secret).
async fn confidential_refresh_token(app: &TestApp, client: &Client, secret: &str) -> String {
    let a =
        Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope: "openid offline_access", audience: None, extra: vec![] };
    let (code, verifier) = app.code(&browser(), &a, EMAIL).await;
    let (s, body) = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &client.client_id),
            ("client_secret", secret),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", CALLBACK),
        ])
        .await;
    assert_eq!(s, 200, "{body}");
    body["refresh_token"].as_str().expect("a refresh token").to_string()
}

/// A new code from the session `browser` already holds (SSO: no password, no login page).
async fn sso_code(app: &TestApp, browser: &reqwest::Client, client: &Client) -> (String, String) {
    let (verifier, challenge) = pkce();
    let a =
        Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope: "openid offline_access", audience: None, extra: vec![] };
    let r = browser.get(app.authorize_url(&a, &challenge, "st")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(CALLBACK), "the live session signs in without a login page: {loc}");
    (param(&loc, "code").expect("a code"), verifier)
}

// ---- POST /oauth/revoke ----

#[tokio::test]
async fn revoking_any_token_of_a_family_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    app.user(EMAIL).await;
    // Form body, presenting the *first* token after two rotations: the later ones die too.
    let rt0 = app.refresh_token(&client, EMAIL).await;
    let rt1 = rotate(&app, &client, &rt0).await;
    let rt2 = rotate(&app, &client, &rt1).await;
    let (s, body) = revoke_form(&app, &[("client_id", &client.client_id), ("token", &rt0), ("token_type_hint", "refresh_token")]).await;
    assert_eq!((s, body.as_str()), (200, ""), "200 with an empty body");
    for rt in [&rt0, &rt1, &rt2] {
        assert_dead(&app, &client, rt, "every token of the revoked family").await;
    }
    assert!(app.family_of(&rt2).await.revoked_at.is_some());
    assert!(app.events("ferrt").await.is_empty(), "a revocation is not reuse");
    let srrt = app.events("srrt").await;
    assert_eq!(srrt.len(), 1);
    assert_eq!(srrt[0].details["credential_id"], app.family_of(&rt0).await.id.to_string());

    // JSON body, presenting the current token.
    let rt0 = app.refresh_token(&client, EMAIL).await;
    let rt1 = rotate(&app, &client, &rt0).await;
    let (s, body) = revoke_json(&app, &json!({"client_id": client.client_id, "token": rt1})).await;
    assert_eq!((s, body.as_str()), (200, ""));
    assert_dead(&app, &client, &rt1, "revoked through a JSON body").await;
    // Revoking again is still 200.
    let (s, _) = revoke_json(&app, &json!({"client_id": client.client_id, "token": rt1})).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn revoking_an_unknown_token_succeeds_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    app.user(EMAIL).await;
    let rt = app.refresh_token(&client, EMAIL).await;
    let mut forged: Vec<char> = rt.chars().collect();
    forged[50] = if forged[50] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    for token in ["garbage", forged.as_str()] {
        let (s, body) = revoke_form(&app, &[("client_id", &client.client_id), ("token", token)]).await;
        assert_eq!((s, body.as_str()), (200, ""), "RFC 7009 §2.2: unknown tokens are answered with 200");
    }
    assert!(app.family_of(&rt).await.revoked_at.is_none());
    assert_live(&app, &client, &rt, "the real token survives forged revocations").await;
}

#[tokio::test]
async fn revocation_requires_valid_client_credentials() {
    let app = TestApp::spawn().await;
    let (client, secret) = app.client_with(AppType::RegularWeb, |_| {}).await;
    let secret = secret.expect("a confidential client has a secret");
    app.user(EMAIL).await;
    let rt = confidential_refresh_token(&app, &client, &secret).await;
    let refresh = |rt: String| {
        let app = &app;
        let (cid, secret) = (client.client_id.clone(), secret.clone());
        async move {
            app.token(&[("grant_type", "refresh_token"), ("client_id", &cid), ("client_secret", &secret), ("refresh_token", &rt)]).await
        }
    };
    for bad in [vec![("client_secret", "wrong-secret")], vec![]] {
        let mut form = vec![("client_id", client.client_id.as_str()), ("token", rt.as_str())];
        form.extend(bad);
        let r = reqwest::Client::new().post(app.url("/oauth/revoke")).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 401, "bad client credentials");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{body}");
    }
    let (s, body) = refresh(rt.clone()).await;
    assert_eq!(s, 200, "the family survives unauthenticated revocation attempts: {body}");
    let (s, body) = revoke_form(&app, &[("client_id", &client.client_id), ("client_secret", &secret), ("token", &rt)]).await;
    assert_eq!((s, body.as_str()), (200, ""));
    let (s, body) = refresh(rt.clone()).await;
    assert_invalid_refresh_token(s, &body, "revoked with valid credentials");
}

#[tokio::test]
async fn revoking_another_clients_token_succeeds_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let owner = app.spa().await;
    let other = app.spa().await;
    app.user(EMAIL).await;
    let rt = app.refresh_token(&owner, EMAIL).await;
    let (s, body) = revoke_form(&app, &[("client_id", &other.client_id), ("token", &rt)]).await;
    assert_eq!((s, body.as_str()), (200, ""));
    assert!(app.family_of(&rt).await.revoked_at.is_none());
    assert_live(&app, &owner, &rt, "another client cannot revoke the owner's family").await;
}

// ---- User and session lifecycle ----

#[tokio::test]
async fn blocking_a_user_revokes_their_families_for_good() {
    let app = TestApp::spawn().await;
    let a = app.spa().await;
    let b = app.spa().await;
    let alice = app.user(EMAIL).await;
    app.user("bob@example.com").await;
    let alice_a = app.refresh_token(&a, EMAIL).await;
    let alice_b = app.refresh_token(&b, EMAIL).await;
    let bob_a = app.refresh_token(&a, "bob@example.com").await;
    assert!(app.state.store.set_user_blocked(&alice.user_id, true, app.clock.now()).await.unwrap());
    assert_dead(&app, &a, &alice_a, "blocked user, client A").await;
    assert_dead(&app, &b, &alice_b, "blocked user, client B").await;
    // Unblocking does not bring the revoked families back.
    assert!(app.state.store.set_user_blocked(&alice.user_id, false, app.clock.now()).await.unwrap());
    assert!(app.family_of(&alice_a).await.revoked_at.is_some() && app.family_of(&alice_b).await.revoked_at.is_some());
    assert_dead(&app, &a, &alice_a, "still dead after unblocking").await;
    assert_live(&app, &a, &bob_a, "another user's family is untouched").await;
}

#[tokio::test]
async fn deleting_a_user_revokes_their_families() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    let alice = app.user(EMAIL).await;
    app.user("bob@example.com").await;
    let alice_rt = app.refresh_token(&client, EMAIL).await;
    let bob_rt = app.refresh_token(&client, "bob@example.com").await;
    assert!(app.state.store.delete_user(&alice.user_id, app.clock.now()).await.unwrap());
    assert!(app.family_of(&alice_rt).await.revoked_at.is_some());
    assert_dead(&app, &client, &alice_rt, "the deleted user's token").await;
    assert_live(&app, &client, &bob_rt, "another user's family is untouched").await;
}

#[tokio::test]
async fn revoking_a_session_revokes_the_families_born_in_it() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    app.user(EMAIL).await;
    // Session 1: a password sign-in, then a second authorization through SSO.
    let b1 = browser();
    let a =
        Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope: "openid offline_access", audience: None, extra: vec![] };
    let (code, verifier) = app.code(&b1, &a, EMAIL).await;
    let s1_first = app.exchange_for_refresh_token(&client, &code, &verifier).await;
    let (code, verifier) = sso_code(&app, &b1, &client).await;
    let s1_second = app.exchange_for_refresh_token(&client, &code, &verifier).await;
    // Session 2: another browser.
    let s2 = app.refresh_token(&client, EMAIL).await;
    let session1 = app.family_of(&s1_first).await.session_id.expect("families remember their session");
    assert_eq!(app.family_of(&s1_second).await.session_id.as_deref(), Some(session1.as_str()));
    let session2 = app.family_of(&s2).await.session_id.unwrap();
    assert_ne!(session1, session2);

    // Ending session 2 without revocation (plain logout) leaves its family alone.
    assert!(app.state.store.delete_session(&session2, false, app.clock.now()).await.unwrap());
    assert_live(&app, &client, &s2, "logout without revocation keeps offline access").await;
    // Revoking session 1 revokes both of its families, and only those.
    assert!(app.state.store.delete_session(&session1, true, app.clock.now()).await.unwrap());
    assert_dead(&app, &client, &s1_first, "first family of the revoked session").await;
    assert_dead(&app, &client, &s1_second, "second family of the revoked session").await;
}

// ---- The 200-family limit per user and client (Auth0 RTR spec §8) ----

fn live_families(app: &TestApp, user_id: &str, client_id: &str) -> i64 {
    let db = rusqlite::Connection::open_with_flags(&app.db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    db.query_row("SELECT count(*) FROM families WHERE user_id = ?1 AND client_id = ?2 AND revoked_at IS NULL", [user_id, client_id], |r| {
        r.get(0)
    })
    .unwrap()
}

#[tokio::test]
async fn the_201st_sign_in_evicts_the_oldest_family_through_the_code_exchange() {
    // All 201 families go through the real path (GET /authorize → code → POST /oauth/token, where
    // eviction is wired). Only the first sign-in types a password; the other 200 reuse its session
    // (SSO), which avoids 200 Argon2 verifications and keeps this test at a few seconds.
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    let other = app.spa().await;
    let alice = app.user(EMAIL).await;
    let other_client_rt = app.refresh_token(&other, EMAIL).await; // must not count towards `client`
    let b = browser();
    let a =
        Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope: "openid offline_access", audience: None, extra: vec![] };
    let (code, verifier) = app.code(&b, &a, EMAIL).await;
    let mut rts = vec![app.exchange_for_refresh_token(&client, &code, &verifier).await];
    for _ in 1..MAX_FAMILIES_PER_USER_CLIENT {
        app.clock.advance(1); // distinct birth times: "oldest" is well defined
        let (code, verifier) = sso_code(&app, &b, &client).await;
        rts.push(app.exchange_for_refresh_token(&client, &code, &verifier).await);
    }
    assert_eq!(live_families(&app, &alice.user_id, &client.client_id), 200);
    assert!(app.events("resource_cleanup").await.is_empty(), "200 families are within the limit");

    app.clock.advance(1);
    let (code, verifier) = sso_code(&app, &b, &client).await;
    rts.push(app.exchange_for_refresh_token(&client, &code, &verifier).await);
    assert_eq!(live_families(&app, &alice.user_id, &client.client_id), 200, "the newest 200 stay live");
    assert!(app.family_of(&rts[0]).await.revoked_at.is_some(), "the oldest family is evicted");
    for rt in &rts[1..] {
        assert!(app.family_of(rt).await.revoked_at.is_none(), "the newest 200 are untouched");
    }
    assert_dead(&app, &client, &rts[0], "the evicted family's token").await;
    assert_live(&app, &client, &rts[1], "the now-oldest live family").await;
    assert_live(&app, &client, &rts[200], "the newest family").await;
    assert_live(&app, &other, &other_client_rt, "the limit is per client").await;
    let cleanup = app.events("resource_cleanup").await;
    assert_eq!(cleanup.len(), 1, "{cleanup:?}");
    assert_eq!(cleanup[0].details["removedCount"], 1);
    assert_eq!(cleanup[0].user_id.as_deref(), Some(alice.user_id.as_str()));
    assert_eq!(app.metric("resource_cleanup").await, 1);
}

#[tokio::test]
async fn eviction_never_revokes_the_family_just_issued() {
    // 200 live families already exist, all born in the same second as the new sign-in (a burst of
    // sign-ins). The family issued by this code exchange is the newest by definition and its token
    // must work. The pre-existing families are inserted through the store (cheap); their random
    // ids are replaced by ids that sort high, which deterministically reproduces the 200-in-201
    // chance that a random new id sorts below all of them.
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    let alice = app.user(EMAIL).await;
    let now = app.clock.now();
    for i in 0..MAX_FAMILIES_PER_USER_CLIENT {
        let mut f = Family::born(
            FamilyGrant {
                grant_id: format!("gr_burst{i}"),
                client_id: client.client_id.clone(),
                user_id: alice.user_id.clone(),
                session_id: None,
                audience: None,
                scope: "openid offline_access".into(),
                auth_time: now,
            },
            &client.refresh_token,
            now,
        );
        f.id = FamilyId::parse(&format!("ffffffffffffffffffffffffffff{i:04x}")).unwrap();
        app.state.store.insert_family(&f, &Seen::default()).await.unwrap();
    }
    let rt = app.refresh_token(&client, EMAIL).await; // same second
    assert_eq!(live_families(&app, &alice.user_id, &client.client_id), 200);
    assert!(app.family_of(&rt).await.revoked_at.is_none(), "the family just issued was evicted");
    assert_live(&app, &client, &rt, "the token just issued works").await;
}
