//! Refresh-token rotation over real HTTP (DESIGN §4; Auth0 RTR spec §2): one winner per token,
//! safe retry inside the leeway, reuse detection, lifetimes, scope, client binding, migration
//! between rotating and non-rotating, and the browser rule. Each test is named after the rule.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ratchet_core::client::{AppType, Client, ExpirationType, RotationType};
use ratchet_server::Clock;
use serde_json::Value;
use tokio::task::JoinSet;

use crate::support::*;

const EMAIL: &str = "alice@example.com";

/// Presents `rt` `n` times at once over `n` separate connections (released together by a
/// barrier); returns every `(status, body)`. Bounded: fails after 60 s.
async fn race(app: &TestApp, client: &Client, rt: &str, n: usize) -> Vec<(u16, Value)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut set = JoinSet::new();
    for _ in 0..n {
        let (barrier, url, client_id, rt) = (barrier.clone(), app.url("/oauth/token"), client.client_id.clone(), rt.to_string());
        set.spawn(async move {
            // One client (one connection) per task so the requests really are in flight together.
            let http = reqwest::Client::new();
            let form = [("grant_type", "refresh_token"), ("client_id", client_id.as_str()), ("refresh_token", rt.as_str())];
            let req = http.post(url).form(&form);
            barrier.wait().await;
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    tokio::time::timeout(Duration::from_secs(60), set.join_all()).await.expect("racing refreshes finish within 60 s")
}

fn rt_of(body: &Value) -> String {
    body["refresh_token"].as_str().unwrap_or_else(|| panic!("a refresh token in {body}")).to_string()
}

/// Rotates `rt` once over HTTP and returns the successor (asserting success).
async fn rotate(app: &TestApp, client: &Client, rt: &str) -> String {
    let (s, body) = app.refresh(client, rt).await;
    assert_eq!(s, 200, "rotation succeeds: {body}");
    let next = rt_of(&body);
    assert_ne!(next, rt, "a rotating client gets a new refresh token");
    next
}

fn scope_set(s: &Value) -> std::collections::BTreeSet<String> {
    s.as_str().unwrap_or_else(|| panic!("a scope string, got {s}")).split(' ').filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// Exchanges a code signed in at `client` with extra request headers; returns the token response.
async fn code_exchange_with_headers(
    app: &TestApp,
    client: &Client,
    scope: &str,
    audience: Option<&str>,
    headers: &[(&str, &str)],
) -> Value {
    let a = Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope, audience, extra: vec![] };
    let (code, verifier) = app.code(&browser(), &a, EMAIL).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client.client_id.as_str()),
        ("code", code.as_str()),
        ("code_verifier", verifier.as_str()),
        ("redirect_uri", CALLBACK),
    ];
    let (s, body) = app.token_with_headers(&form, headers).await;
    assert_eq!(s, 200, "{body}");
    body
}

// ---- One winner per token (DESIGN §4.5) and safe retry (§4.3) ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_presentations_with_zero_leeway_have_exactly_one_winner_and_revoke_the_family() {
    let app = TestApp::spawn().await;
    let client = app.spa().await; // leeway 0, the default
    assert_eq!(client.refresh_token.leeway, 0);
    app.user(EMAIL).await;
    for n in [2usize, 4, 8, 16, 32] {
        let rt = app.refresh_token(&client, EMAIL).await;
        let results = race(&app, &client, &rt, n).await;
        let winners: Vec<&Value> = results.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b).collect();
        assert_eq!(winners.len(), 1, "N={n}: exactly one of {n} simultaneous presentations wins: {results:?}");
        for (s, b) in results.iter().filter(|(s, _)| *s != 200) {
            assert_invalid_refresh_token(*s, b, &format!("N={n}: every loser gets the generic refusal"));
        }
        // The losers' presentations are reuse: the whole family is revoked, the winner's new token too.
        let family = app.family_of(&rt).await;
        assert!(family.revoked_at.is_some(), "N={n}: family revoked after the race");
        assert_eq!(family.counter, 1, "N={n}: the counter advanced exactly once");
        let (s, b) = app.refresh(&client, &rt_of(winners[0])).await;
        assert_invalid_refresh_token(s, &b, &format!("N={n}: the winner's successor is dead too"));
        let ferrt = app.events("ferrt").await;
        assert!(ferrt.iter().any(|e| e.details["familyId"] == family.id.to_string()), "N={n}: reuse was audited");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_presentations_within_leeway_all_get_the_same_successor_and_the_chain_continues() {
    let app = TestApp::spawn().await;
    let client = app.spa_with_policy(|p| p.leeway = 5).await;
    app.user(EMAIL).await;
    for n in [2usize, 4, 8, 16, 32] {
        let rt = app.refresh_token(&client, EMAIL).await;
        let results = race(&app, &client, &rt, n).await;
        assert!(results.iter().all(|(s, _)| *s == 200), "N={n}: all succeed inside the leeway: {results:?}");
        let successors: std::collections::BTreeSet<String> = results.iter().map(|(_, b)| rt_of(b)).collect();
        assert_eq!(successors.len(), 1, "N={n}: one identical successor, not siblings: {successors:?}");
        let successor = successors.into_iter().next().unwrap();
        assert_ne!(successor, rt);
        let family = app.family_of(&rt).await;
        assert_eq!((family.counter, family.revoked_at), (1, None), "N={n}: one rotation, family live");
        // The chain continues from the common successor.
        let next = rotate(&app, &client, &successor).await;
        let next2 = rotate(&app, &client, &next).await;
        assert_eq!(app.family_of(&next2).await.counter, 3);
    }
    assert!(app.events("ferrt").await.is_empty(), "no reuse was detected");
}

#[tokio::test]
async fn lost_response_retry_inside_leeway_returns_the_same_successor_and_after_leeway_is_reuse() {
    let app = TestApp::spawn().await;
    let client = app.spa_with_policy(|p| p.leeway = 5).await;
    app.user(EMAIL).await;
    let rt0 = app.refresh_token(&client, EMAIL).await;
    let rt1 = rotate(&app, &client, &rt0).await; // the response is "lost"
    app.clock.advance(4); // inside the 5 s leeway
    let (s, body) = app.refresh(&client, &rt0).await;
    assert_eq!(s, 200, "retry inside the leeway succeeds: {body}");
    assert_eq!(rt_of(&body), rt1, "the retry returns the same successor");
    assert!(body["access_token"].is_string() && body["id_token"].is_string());
    // The chain continues from the successor.
    let rt2 = rotate(&app, &client, &rt1).await;
    app.clock.advance(4);
    let (s, body) = app.refresh(&client, &rt1).await;
    assert_eq!((s, rt_of(&body)), (200, rt2.clone()), "the window restarts at each rotation");
    // Leeway is measured from the rotation that superseded the token: 5 s after it, it is reuse.
    app.clock.advance(1);
    let (s, body) = app.refresh(&client, &rt1).await;
    assert_invalid_refresh_token(s, &body, "the previous token after the leeway is reuse");
    let (s, body) = app.refresh(&client, &rt2).await;
    assert_invalid_refresh_token(s, &body, "reuse revoked the family: the current token is dead");
    let family = app.family_of(&rt2).await;
    assert!(family.revoked_at.is_some());
    let ferrt = app.events("ferrt").await;
    assert_eq!(ferrt.len(), 1);
    assert_eq!(ferrt[0].details["tokenCounter"], 1);
    assert_eq!(ferrt[0].details["latestCounter"], 2);
}

#[tokio::test]
async fn only_the_immediately_previous_token_gets_leeway() {
    let app = TestApp::spawn().await;
    let client = app.spa_with_policy(|p| p.leeway = 60).await;
    app.user(EMAIL).await;
    let rt0 = app.refresh_token(&client, EMAIL).await;
    let rt1 = rotate(&app, &client, &rt0).await;
    let rt2 = rotate(&app, &client, &rt1).await;
    // rt0 is two generations old: reuse even though it is well inside the leeway (COMM-189795).
    let (s, body) = app.refresh(&client, &rt0).await;
    assert_invalid_refresh_token(s, &body, "a token two generations old is reuse");
    for rt in [&rt1, &rt2] {
        let (s, body) = app.refresh(&client, rt).await;
        assert_invalid_refresh_token(s, &body, "the family is revoked");
    }
}

// ---- Reuse detection: Auth0's two documented scenarios (RTR spec §2.4) ----

async fn assert_reuse_audited(app: &TestApp, rt: &str, presented: u64, latest: u64) {
    let family = app.family_of(rt).await;
    assert!(family.revoked_at.is_some(), "family revoked");
    let ferrt = app.events("ferrt").await;
    assert_eq!(ferrt.len(), 1, "one reuse event: {ferrt:?}");
    let d = &ferrt[0].details;
    assert_eq!(d["familyId"], family.id.to_string());
    assert_eq!(d["tokenCounter"], presented);
    assert_eq!(d["latestCounter"], latest);
    assert_eq!(ferrt[0].user_id.as_deref(), Some(family.user_id.as_str()));
    assert_eq!(app.metric("ferrt").await, 1, "counted on /metrics");
}

#[tokio::test]
async fn reuse_after_the_legitimate_client_rotated_revokes_the_family() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    app.user(EMAIL).await;
    let rt1 = app.refresh_token(&client, EMAIL).await;
    let rt2 = rotate(&app, &client, &rt1).await; // legitimate client
    let (s, body) = app.refresh(&client, &rt1).await; // attacker replays the stolen RT1
    assert_invalid_refresh_token(s, &body, "the attacker is refused");
    let (s, body) = app.refresh(&client, &rt2).await; // legitimate client, later
    assert_invalid_refresh_token(s, &body, "the legitimate client's RT2 died with the family");
    assert_reuse_audited(&app, &rt1, 0, 1).await;
}

#[tokio::test]
async fn reuse_after_the_attacker_rotated_revokes_the_family() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    app.user(EMAIL).await;
    let rt1 = app.refresh_token(&client, EMAIL).await;
    let rt2_attacker = rotate(&app, &client, &rt1).await; // the attacker wins the race
    let (s, body) = app.refresh(&client, &rt1).await; // the legitimate client presents RT1
    assert_invalid_refresh_token(s, &body, "the legitimate client is refused (and must sign in again)");
    let (s, body) = app.refresh(&client, &rt2_attacker).await;
    assert_invalid_refresh_token(s, &body, "the attacker's RT2' died with the family");
    assert_reuse_audited(&app, &rt1, 0, 1).await;
}

// ---- Every refresh issues fresh tokens for the same identity (DESIGN §3, §4.1) ----

#[tokio::test]
async fn every_refresh_issues_new_tokens_with_the_original_identity_claims() {
    let app = TestApp::spawn().await;
    app.api("https://api.example", true).await;
    let client = app.spa().await;
    let user = app.user(EMAIL).await;
    let first = app.sign_in_tokens(&client, EMAIL, "openid profile email offline_access", Some("https://api.example")).await;
    let id0 = claims(first["id_token"].as_str().unwrap());
    assert!(id0["sid"].is_string() && id0["auth_time"].is_i64(), "{id0}");
    let mut seen_rt = vec![rt_of(&first)];
    let mut seen_at = vec![first["access_token"].as_str().unwrap().to_string()];
    let mut seen_id = vec![first["id_token"].as_str().unwrap().to_string()];
    let mut rt = rt_of(&first);
    for i in 1..=3 {
        app.clock.advance(10);
        let (s, body) = app.refresh(&client, &rt).await;
        assert_eq!(s, 200, "refresh {i}: {body}");
        let (new_rt, at, idt) = (rt_of(&body), body["access_token"].as_str().unwrap(), body["id_token"].as_str().unwrap());
        assert!(!seen_rt.contains(&new_rt), "refresh {i}: a new refresh token");
        assert!(!seen_at.iter().any(|a| a == at), "refresh {i}: a new access token");
        assert!(!seen_id.iter().any(|t| t == idt), "refresh {i}: a new ID token");
        assert!(app.state.keys.current().signing.verify(idt).is_some(), "refresh {i}: the ID token is signed by the server key");
        assert!(app.state.keys.current().signing.verify(at).is_some(), "refresh {i}: the JWT access token is signed by the server key");
        let id = claims(idt);
        assert_eq!(id["iat"], app.clock.now(), "refresh {i}: new iat");
        assert_ne!(id["iat"], id0["iat"]);
        for k in ["iss", "sub", "aud", "sid", "auth_time"] {
            assert_eq!(id[k], id0[k], "refresh {i}: `{k}` is kept from the original ID token");
        }
        assert_eq!(id["sub"], user.user_id.as_str());
        let atc = claims(at);
        assert_eq!((&atc["sub"], atc["iat"].as_i64()), (&Value::from(user.user_id.as_str()), Some(app.clock.now())));
        assert_eq!(body["token_type"], "Bearer");
        assert!(body["expires_in"].is_i64());
        seen_rt.push(new_rt.clone());
        seen_at.push(at.to_string());
        seen_id.push(idt.to_string());
        rt = new_rt;
    }
}

// ---- Lifetimes (DESIGN §4.4; RTR spec §2.6) ----

#[tokio::test]
async fn absolute_lifetime_is_fixed_at_birth_and_not_extended_by_rotation() {
    let app = TestApp::spawn().await;
    let client = app
        .spa_with_policy(|p| {
            p.token_lifetime = 100;
            p.idle_token_lifetime = 60;
        })
        .await;
    app.user(EMAIL).await;
    let born = app.clock.now();
    let mut rt = app.refresh_token(&client, EMAIL).await;
    assert_eq!(app.family_of(&rt).await.expires_at, Some(born + 100));
    // Rotating every 45 s keeps the idle deadline alive, but never moves the absolute one.
    for _ in 0..2 {
        app.clock.advance(45);
        rt = rotate(&app, &client, &rt).await;
        assert_eq!(app.family_of(&rt).await.expires_at, Some(born + 100), "absolute expiry unchanged by rotation");
    }
    // A later change of the client's setting does not move an existing family's deadline either.
    let mut longer = client.clone();
    longer.refresh_token.token_lifetime = 10_000;
    assert!(app.state.store.update_client(&longer).await.unwrap());
    app.clock.advance(9); // born + 99
    rt = rotate(&app, &longer, &rt).await;
    assert_eq!(app.family_of(&rt).await.idle_expires_at, Some(born + 100), "idle deadline capped by the absolute one");
    app.clock.advance(1); // born + 100
    let (s, body) = app.refresh(&client, &rt).await;
    assert_invalid_refresh_token(s, &body, "expired at the absolute lifetime despite recent rotations");
}

#[tokio::test]
async fn idle_lifetime_restarts_at_every_rotation_and_is_capped_by_the_absolute_one() {
    let app = TestApp::spawn().await;
    let client = app
        .spa_with_policy(|p| {
            p.token_lifetime = 1000;
            p.idle_token_lifetime = 100;
        })
        .await;
    app.user(EMAIL).await;
    let mut rt = app.refresh_token(&client, EMAIL).await;
    for _ in 0..5 {
        app.clock.advance(99); // just inside the idle window, 5 × 99 s > 100 s
        rt = rotate(&app, &client, &rt).await;
        assert_eq!(app.family_of(&rt).await.idle_expires_at, Some(app.clock.now() + 100), "idle deadline restarted");
    }
    app.clock.advance(100);
    let (s, body) = app.refresh(&client, &rt).await;
    assert_invalid_refresh_token(s, &body, "idle for the whole idle lifetime: expired");

    // Cap: with 150 s absolute and 100 s idle, a rotation at 90 s may not extend past 150 s.
    let capped = app
        .spa_with_policy(|p| {
            p.token_lifetime = 150;
            p.idle_token_lifetime = 100;
        })
        .await;
    let born = app.clock.now();
    let rt = app.refresh_token(&capped, EMAIL).await;
    app.clock.advance(90);
    let rt = rotate(&app, &capped, &rt).await;
    assert_eq!(app.family_of(&rt).await.idle_expires_at, Some(born + 150));
    app.clock.advance(59);
    let rt = rotate(&app, &capped, &rt).await;
    app.clock.advance(1);
    let (s, body) = app.refresh(&capped, &rt).await;
    assert_invalid_refresh_token(s, &body, "the capped idle deadline holds");
}

// ---- Scope (RFC 6749 §6) ----

#[tokio::test]
async fn refresh_may_narrow_the_scope_but_never_widen_it() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    app.user(EMAIL).await;
    let first = app.sign_in_tokens(&client, EMAIL, "openid profile offline_access", None).await;
    let original = scope_set(&first["scope"]);
    assert!(original.contains("profile") && !original.contains("email"), "{original:?}");
    let rt0 = rt_of(&first);
    // Narrowing.
    let (s, body) =
        app.token(&[("grant_type", "refresh_token"), ("client_id", &client.client_id), ("refresh_token", &rt0), ("scope", "openid")]).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(scope_set(&body["scope"]), ["openid".to_string()].into(), "the response scope is narrowed");
    let id = claims(body["id_token"].as_str().unwrap());
    assert!(id.get("name").is_none(), "no profile claims under the narrowed scope: {id}");
    let rt1 = rt_of(&body);
    // Widening: `email` was never granted.
    let (s, body) = app
        .token(&[("grant_type", "refresh_token"), ("client_id", &client.client_id), ("refresh_token", &rt1), ("scope", "openid email")])
        .await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["error"], "invalid_scope");
    // The refused request consumed and revoked nothing; omitting scope gives the original grant back.
    let (s, body) = app.refresh(&client, &rt1).await;
    assert_eq!(s, 200, "the token survives a refused scope request: {body}");
    assert_eq!(scope_set(&body["scope"]), original, "omitted scope means the originally granted scope");
}

// ---- Client binding and unknown tokens (DESIGN §4 "unknown must never revoke") ----

#[tokio::test]
async fn another_clients_refresh_token_is_refused_without_revoking_the_family() {
    let app = TestApp::spawn().await;
    let rightful = app.spa().await;
    let other = app.spa().await;
    app.user(EMAIL).await;
    let rt = app.refresh_token(&rightful, EMAIL).await;
    let (s, body) = app.refresh(&other, &rt).await;
    assert_invalid_refresh_token(s, &body, "another client's token is refused");
    // Also after a rotation (so the presented token is "previous" for the rightful client).
    let rt1 = rotate(&app, &rightful, &rt).await;
    let (s, body) = app.refresh(&other, &rt).await;
    assert_invalid_refresh_token(s, &body, "another client's previous token is refused");
    let (s, body) = app.refresh(&other, &rt1).await;
    assert_invalid_refresh_token(s, &body, "another client's current token is refused");
    assert!(app.family_of(&rt1).await.revoked_at.is_none(), "family untouched");
    rotate(&app, &rightful, &rt1).await;
    assert!(app.events("ferrt").await.is_empty());
}

/// `token` with the character at `i` replaced by another base64url character.
fn flip(token: &str, i: usize) -> String {
    let mut c: Vec<char> = token.chars().collect();
    c[i] = if c[i] == 'A' { 'B' } else { 'A' };
    c.into_iter().collect()
}

#[tokio::test]
async fn unknown_or_forged_tokens_are_refused_and_never_revoke_anything() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    app.user(EMAIL).await;
    let rt0 = app.refresh_token(&client, EMAIL).await;
    let rt1 = rotate(&app, &client, &rt0).await;
    let len = rt1.len();
    let mut forged: Vec<String> = [3, 10, 30, 36, len / 2, len - 10, len - 3].iter().map(|&i| flip(&rt1, i)).collect();
    forged.extend([flip(&rt0, 40), format!("{rt1}A"), rt1[..len - 1].to_string(), "garbage".into(), "v1.MRHbz1VqR_y42v".into()]);
    // The dangerous forgery: the real family id with an *older* counter and a wrong MAC. If the
    // server believed it, it would see reuse and revoke: anyone knowing a family id could log
    // its user out.
    let mut raw = URL_SAFE_NO_PAD.decode(&rt1).unwrap();
    raw[18..26].copy_from_slice(&0u64.to_be_bytes());
    forged.push(URL_SAFE_NO_PAD.encode(&raw));
    raw[26..].copy_from_slice(&[0u8; 32]);
    forged.push(URL_SAFE_NO_PAD.encode(&raw));
    for f in &forged {
        assert_ne!(f, &rt1);
        let (s, body) = app.refresh(&client, f).await;
        assert_invalid_refresh_token(s, &body, &format!("forged token {f}"));
    }
    assert!(app.family_of(&rt1).await.revoked_at.is_none(), "nothing was revoked");
    assert!(app.events("ferrt").await.is_empty(), "no reuse was recorded");
    rotate(&app, &client, &rt1).await;
}

// ---- Switching rotating ⇄ non-rotating applies at the next exchange (RTR spec §2.7) ----

#[tokio::test]
async fn turning_rotation_off_issues_a_non_rotating_token_at_the_next_exchange() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    app.user(EMAIL).await;
    let rt0 = app.refresh_token(&client, EMAIL).await;
    let rt1 = rotate(&app, &client, &rt0).await;
    let mut off = client.clone();
    off.refresh_token.rotation_type = RotationType::NonRotating; // expiration stays `expiring`
    off.validate().unwrap();
    assert!(app.state.store.update_client(&off).await.unwrap());
    let (s, body) = app.refresh(&off, &rt1).await;
    assert_eq!(s, 200, "{body}");
    let reusable = rt_of(&body);
    assert_ne!(reusable, rt1);
    let fam = app.family_of(&reusable).await;
    assert!(!fam.rotating, "the new token is non-rotating");
    assert!(app.family_of(&rt1).await.revoked_at.is_some(), "the rotating family is revoked");
    for i in 0..3 {
        app.clock.advance(10);
        let (s, body) = app.refresh(&off, &reusable).await;
        assert_eq!(s, 200, "use {i}: {body}");
        assert!(body.get("refresh_token").is_none(), "use {i}: non-rotating responses carry no refresh token: {body}");
        assert!(body["access_token"].is_string() && body["id_token"].is_string());
    }
    let (s, body) = app.refresh(&off, &rt1).await;
    assert_invalid_refresh_token(s, &body, "the old rotating token is dead");
    assert!(app.events("ferrt").await.is_empty(), "migration is not reuse");
}

#[tokio::test]
async fn turning_rotation_on_issues_a_rotating_token_and_revokes_the_non_rotating_ones() {
    let app = TestApp::spawn().await;
    // A native app: public, non-rotating and non-expiring by default.
    let (client, _) = app.client_with(AppType::Native, |_| {}).await;
    assert!(!client.refresh_token.is_rotating());
    app.user(EMAIL).await;
    let reusable = app.refresh_token(&client, EMAIL).await;
    let sibling = app.refresh_token(&client, EMAIL).await; // another device of the same user
    for _ in 0..2 {
        let (s, body) = app.refresh(&client, &reusable).await;
        assert_eq!(s, 200, "{body}");
        assert!(body.get("refresh_token").is_none(), "{body}");
    }
    let mut on = client.clone();
    on.refresh_token.rotation_type = RotationType::Rotating;
    on.refresh_token.expiration_type = ExpirationType::Expiring;
    on.refresh_token.infinite_token_lifetime = false;
    on.refresh_token.infinite_idle_token_lifetime = false;
    on.validate().unwrap();
    assert!(app.state.store.update_client(&on).await.unwrap());
    let (s, body) = app.refresh(&on, &reusable).await;
    assert_eq!(s, 200, "{body}");
    let r0 = rt_of(&body);
    assert_ne!(r0, reusable);
    let fam = app.family_of(&r0).await;
    assert!(fam.rotating && fam.expires_at.is_some(), "a rotating, expiring family: {fam:?}");
    let r1 = rotate(&app, &on, &r0).await;
    rotate(&app, &on, &r1).await;
    for (rt, what) in [(&reusable, "the migrated non-rotating token"), (&sibling, "the user's other non-rotating token at this client")] {
        let (s, body) = app.refresh(&on, rt).await;
        assert_invalid_refresh_token(s, &body, &format!("{what} is revoked"));
    }
}

// ---- Which requests get a refresh token at all (RTR spec §1.2 rules 3 and 5) ----

#[tokio::test]
async fn browsers_get_refresh_tokens_only_from_rotating_clients() {
    let app = TestApp::spawn().await;
    app.user(EMAIL).await;
    let rotating = app.spa().await;
    let non_rotating = app.spa_with_policy(|p| p.rotation_type = RotationType::NonRotating).await;
    let origin = [("origin", SPA_ORIGIN)];
    let scope = "openid profile offline_access";

    let body = code_exchange_with_headers(&app, &rotating, scope, None, &origin).await;
    assert!(body["refresh_token"].is_string(), "a browser gets a rotating refresh token: {body}");

    let body = code_exchange_with_headers(&app, &non_rotating, scope, None, &origin).await;
    assert!(body.get("refresh_token").is_none(), "a browser never gets a non-rotating refresh token: {body}");
    assert!(!scope_set(&body["scope"]).contains("offline_access"), "offline_access is not granted: {body}");
    assert!(body["access_token"].is_string() && body["id_token"].is_string());

    // Control: the same client called from a back end (no Origin) does get one.
    let body = code_exchange_with_headers(&app, &non_rotating, scope, None, &[]).await;
    assert!(body["refresh_token"].is_string(), "{body}");
}

#[tokio::test]
async fn offline_access_is_withheld_when_the_api_does_not_allow_it() {
    let app = TestApp::spawn().await;
    app.api("https://no-offline.example", false).await;
    app.api("https://offline.example", true).await;
    let client = app.spa().await;
    app.user(EMAIL).await;
    let body = app.sign_in_tokens(&client, EMAIL, "openid offline_access", Some("https://no-offline.example")).await;
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(!scope_set(&body["scope"]).contains("offline_access"), "{body}");
    assert!(body["access_token"].is_string());
    let body = app.sign_in_tokens(&client, EMAIL, "openid offline_access", Some("https://offline.example")).await;
    assert!(body["refresh_token"].is_string(), "control: an API that allows offline access: {body}");
}
