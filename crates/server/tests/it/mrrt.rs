//! Multi-resource refresh tokens (Auth0's MRRT, a client's `refresh_token.policies`): one refresh
//! token obtains access tokens for the APIs its client's policies name, rotating its one family.
//! Each test is named after the rule it checks.

use std::process::Command;

use ratchet_core::client::{AppType, AudiencePolicy, Client};
use serde_json::Value;

use crate::support::*;

const EMAIL: &str = "mrrt@example.com";
const API_A: &str = "https://a.api.test";
const API_B: &str = "https://b.api.test";
const API_C: &str = "https://c.api.test";

fn policy(audience: &str, scope: &[&str]) -> AudiencePolicy {
    AudiencePolicy { audience: audience.into(), scope: scope.iter().map(|s| s.to_string()).collect() }
}

/// APIs A, B and C; a SPA whose refresh tokens may also be used for B (`read:b write:b`); a user
/// signed in for A. Returns the client and the refresh token.
async fn setup(app: &TestApp, scope: &str) -> (Client, String) {
    for a in [API_A, API_B, API_C] {
        app.api(a, true).await;
    }
    let (client, _) = app.client_with(AppType::Spa, |c| c.refresh_token.policies = vec![policy(API_B, &["read:b", "write:b"])]).await;
    app.user(EMAIL).await;
    let body = app.sign_in_tokens(&client, EMAIL, scope, Some(API_A)).await;
    assert_eq!(claims(body["access_token"].as_str().unwrap())["aud"][0], API_A);
    (client, body["refresh_token"].as_str().expect("a refresh token").to_string())
}

async fn refresh_for(app: &TestApp, client: &Client, rt: &str, audience: &str, scope: Option<&str>) -> (u16, Value) {
    let mut form =
        vec![("grant_type", "refresh_token"), ("client_id", client.client_id.as_str()), ("refresh_token", rt), ("audience", audience)];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    app.token(&form).await
}

fn scopes(v: &Value) -> Vec<String> {
    let mut s: Vec<String> = v.as_str().unwrap_or_else(|| panic!("a scope string: {v}")).split(' ').map(String::from).collect();
    s.sort();
    s
}

#[tokio::test]
async fn refresh_for_a_policy_audience_returns_a_token_for_that_api_and_rotates_the_same_family() {
    let app = TestApp::spawn().await;
    let (client, rt) = setup(&app, "openid profile offline_access").await;
    let family = app.family_of(&rt).await;

    let (s, body) = refresh_for(&app, &client, &rt, API_B, None).await;
    assert_eq!(s, 200, "{body}");
    let at = claims(body["access_token"].as_str().unwrap());
    assert_eq!(at["aud"][0], API_B, "the access token is for the requested API: {at}");
    assert_eq!(scopes(&at["scope"]), scopes(&Value::from("openid profile offline_access read:b write:b")));
    assert_eq!(scopes(&body["scope"]), scopes(&at["scope"]));
    assert!(body["id_token"].is_string(), "openid was granted: an ID token comes back");
    let rt2 = body["refresh_token"].as_str().expect("rotated").to_string();
    assert_ne!(rt2, rt);

    let after = app.family_of(&rt2).await;
    assert_eq!(after.id, family.id, "the same family rotates");
    assert_eq!(after.counter, family.counter + 1);
    assert_eq!(after.audience.as_deref(), Some(API_A), "the family keeps its own audience");

    // The successor serves the family's own API again, and rotates on.
    let (s, body) = app.refresh(&client, &rt2).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(claims(body["access_token"].as_str().unwrap())["aud"][0], API_A);
    let rt3 = body["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(app.family_of(&rt3).await.counter, family.counter + 2);
}

#[tokio::test]
async fn reuse_of_a_token_rotated_by_a_policy_audience_refresh_revokes_the_family() {
    let app = TestApp::spawn().await;
    let (client, rt) = setup(&app, "openid offline_access").await;
    let (s, body) = refresh_for(&app, &client, &rt, API_B, None).await;
    assert_eq!(s, 200, "{body}");
    let rt2 = body["refresh_token"].as_str().unwrap().to_string();
    let (s, body) = refresh_for(&app, &client, &rt, API_B, None).await;
    assert_invalid_refresh_token(s, &body, "the rotated-out token is reuse, whatever the audience");
    let (s, body) = app.refresh(&client, &rt2).await;
    assert_invalid_refresh_token(s, &body, "reuse revoked the whole family");
}

#[tokio::test]
async fn refresh_for_an_audience_outside_the_policy_is_access_denied() {
    let app = TestApp::spawn().await;
    let (client, rt) = setup(&app, "openid offline_access").await;
    let family = app.family_of(&rt).await;
    for scope in [None, Some("openid")] {
        let (s, body) = refresh_for(&app, &client, &rt, API_C, scope).await;
        assert_eq!((s, body["error"].as_str()), (403, Some("access_denied")), "{body}");
    }
    assert_eq!(app.family_of(&rt).await.counter, family.counter, "nothing was written");
    let (s, body) = app.refresh(&client, &rt).await;
    assert_eq!(s, 200, "the presented token is still the current one: {body}");
}

#[tokio::test]
async fn refresh_for_another_audience_without_any_policy_is_access_denied() {
    let app = TestApp::spawn().await;
    app.api(API_A, true).await;
    app.api(API_B, true).await;
    let client = app.spa().await;
    app.user(EMAIL).await;
    let rt = app.sign_in_tokens(&client, EMAIL, "openid offline_access", Some(API_A)).await["refresh_token"].as_str().unwrap().to_string();
    let (s, body) = refresh_for(&app, &client, &rt, API_B, None).await;
    assert_eq!((s, body["error"].as_str()), (403, Some("access_denied")), "{body}");
    let (s, body) = app.refresh(&client, &rt).await;
    assert_eq!(s, 200, "the presented token was not consumed: {body}");
}

#[tokio::test]
async fn refresh_for_the_familys_own_audience_needs_no_policy() {
    let app = TestApp::spawn().await;
    let (client, rt) = setup(&app, "openid offline_access").await;
    let (s, body) = refresh_for(&app, &client, &rt, API_A, Some("openid")).await;
    assert_eq!(s, 200, "{body}");
    let at = claims(body["access_token"].as_str().unwrap());
    assert_eq!((at["aud"][0].as_str(), at["scope"].as_str()), (Some(API_A), Some("openid")));
}

#[tokio::test]
async fn refresh_for_a_scope_outside_the_policy_is_access_denied() {
    let app = TestApp::spawn().await;
    let (client, rt) = setup(&app, "openid offline_access").await;
    let (s, body) = refresh_for(&app, &client, &rt, API_B, Some("openid read:b admin:b")).await;
    assert_eq!((s, body["error"].as_str()), (403, Some("access_denied")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("admin:b"), "{body}");
    let (s, body) = app.refresh(&client, &rt).await;
    assert_eq!(s, 200, "the presented token was not consumed: {body}");
}

#[tokio::test]
async fn refresh_for_a_policy_audience_with_a_subset_of_its_scopes_gets_that_subset() {
    let app = TestApp::spawn().await;
    let (client, rt) = setup(&app, "openid profile offline_access").await;
    let (s, body) = refresh_for(&app, &client, &rt, API_B, Some("openid read:b")).await;
    assert_eq!(s, 200, "{body}");
    let at = claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        (at["aud"][0].as_str(), at["scope"].as_str(), body["scope"].as_str()),
        (Some(API_B), Some("openid read:b"), Some("openid read:b"))
    );
}

#[tokio::test]
async fn refresh_for_a_policy_audience_cannot_widen_the_granted_openid_scopes() {
    let app = TestApp::spawn().await;
    let (client, rt) = setup(&app, "openid offline_access").await;
    let (s, body) = refresh_for(&app, &client, &rt, API_B, Some("openid email read:b")).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_scope")), "{body}");
    let (s, _) = app.refresh(&client, &rt).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn refresh_for_a_policy_audience_whose_api_does_not_exist_is_access_denied() {
    let app = TestApp::spawn().await;
    app.api(API_A, true).await;
    let (client, _) = app.client_with(AppType::Spa, |c| c.refresh_token.policies = vec![policy("https://gone.api.test", &["read"])]).await;
    app.user(EMAIL).await;
    let rt = app.sign_in_tokens(&client, EMAIL, "openid offline_access", Some(API_A)).await["refresh_token"].as_str().unwrap().to_string();
    let (s, body) = refresh_for(&app, &client, &rt, "https://gone.api.test", None).await;
    assert_eq!((s, body["error"].as_str()), (403, Some("access_denied")), "{body}");
    let (s, _) = app.refresh(&client, &rt).await;
    assert_eq!(s, 200, "the presented token was not consumed");
}

#[tokio::test]
async fn refresh_token_of_another_client_is_refused_even_for_a_policy_audience() {
    let app = TestApp::spawn().await;
    let (_, rt) = setup(&app, "openid offline_access").await;
    let (other, _) = app.client_with(AppType::Spa, |c| c.refresh_token.policies = vec![policy(API_B, &["read:b"])]).await;
    let (s, body) = refresh_for(&app, &other, &rt, API_B, None).await;
    assert_invalid_refresh_token(s, &body, "a policy never lets another client use the token");
}

#[test]
fn cli_sets_refresh_policies_and_validates_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("cli.db").display());
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ratchet")).env("RATCHET_DATABASE_URL", &db).args(args).output().unwrap();
        (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let (ok, out, err) = run(&["clients", "create", "--name", "App", "--callback", "http://localhost:8080/cb", "--json"]);
    assert!(ok, "{err}");
    let c: Value = serde_json::from_str(&out).unwrap();
    assert!(c["refresh_token"].get("policies").is_none(), "no policies: the field is omitted, as before: {c}");
    let id = c["client_id"].as_str().unwrap();
    let (ok, out, err) = run(&[
        "clients",
        "update",
        id,
        "--refresh-policy",
        "https://b.api.test=read:b,write:b",
        "--refresh-policy",
        "https://c.api.test=",
        "--json",
    ]);
    assert!(ok, "{err}");
    let c: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        c["refresh_token"]["policies"],
        serde_json::json!([{"audience": "https://b.api.test", "scope": ["read:b", "write:b"]}, {"audience": "https://c.api.test", "scope": []}])
    );
    let (ok, out, _) = run(&["clients", "show", id, "--json"]);
    assert!(ok);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["refresh_token"]["policies"], c["refresh_token"]["policies"], "stored");
    for bad in ["no-equals-sign", "=read", "https://b.api.test=two words", "https://x.test=a"] {
        let args = if bad == "https://x.test=a" {
            vec!["clients", "update", id, "--refresh-policy", bad, "--refresh-policy", "https://x.test=b"]
        } else {
            vec!["clients", "update", id, "--refresh-policy", bad]
        };
        let (ok, _, err) = run(&args);
        assert!(!ok, "{bad} is refused");
        assert!(!err.is_empty());
    }
}
