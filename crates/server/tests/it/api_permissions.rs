//! An API's permissions (`scopes`): requested at `/authorize` with the API as audience, they are
//! granted into the access token and the token response, kept through refreshes (which may narrow
//! them), and dropped when the audience does not define them.

use ratchet_core::client::ApiScope;
use ratchet_server::service::manage::apis::NewApi;

use crate::support::*;

const API: &str = "https://messages.example";

async fn api_with_permissions(app: &TestApp) {
    let scopes = [("read:messages", "Read messages"), ("write:messages", "")]
        .iter()
        .map(|(v, d)| ApiScope { value: v.to_string(), description: d.to_string() })
        .collect();
    let new = NewApi { identifier: API.into(), scopes, allow_offline_access: true, ..Default::default() };
    app.state.manage.apis.create(new).await.unwrap();
}

#[tokio::test]
async fn permissions_the_audience_defines_are_granted_and_kept_through_refreshes() {
    let app = TestApp::spawn().await;
    api_with_permissions(&app).await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let requested = "openid profile offline_access read:messages write:messages delete:everything";
    let body = app.sign_in_tokens(&c, "alice@example.com", requested, Some(API)).await;
    let granted = "openid profile offline_access read:messages write:messages";
    assert_eq!(body["scope"], granted, "undefined scopes are dropped: {body}");
    assert_eq!(claims(body["access_token"].as_str().unwrap())["scope"], granted);

    let rt = body["refresh_token"].as_str().unwrap();
    let (status, refreshed) = app.refresh(&c, rt).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["scope"], granted, "kept through a refresh");
    assert_eq!(claims(refreshed["access_token"].as_str().unwrap())["scope"], granted);

    let rt = refreshed["refresh_token"].as_str().unwrap();
    let (status, narrowed) = app
        .token(&[("grant_type", "refresh_token"), ("client_id", &c.client_id), ("refresh_token", rt), ("scope", "openid read:messages")])
        .await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(narrowed["scope"], "openid read:messages", "a refresh may narrow");
    assert_eq!(claims(narrowed["access_token"].as_str().unwrap())["scope"], "openid read:messages");
}

#[tokio::test]
async fn permissions_are_dropped_without_an_audience_that_defines_them() {
    let app = TestApp::spawn().await;
    api_with_permissions(&app).await;
    app.api("https://other.example", true).await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let body = app.sign_in_tokens(&c, "alice@example.com", "openid read:messages", None).await;
    assert_eq!(body["scope"], "openid", "no audience: only OpenID Connect scopes");
    let body = app.sign_in_tokens(&c, "alice@example.com", "openid read:messages", Some("https://other.example")).await;
    assert_eq!(body["scope"], "openid", "another API does not define it");
}

#[tokio::test]
async fn a_refresh_cannot_widen_to_a_permission_never_granted() {
    let app = TestApp::spawn().await;
    api_with_permissions(&app).await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let body = app.sign_in_tokens(&c, "alice@example.com", "openid offline_access read:messages", Some(API)).await;
    let rt = body["refresh_token"].as_str().unwrap();
    let (status, refreshed) = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("refresh_token", rt),
            ("scope", "openid read:messages write:messages"),
        ])
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["scope"], "openid read:messages", "what was never granted is not added");
}
