//! Revocation reaches access tokens: every way a grant or its refresh-token family dies makes
//! `/userinfo` refuse the access tokens minted from it, the JWT ones (through their `gid` claim)
//! as well as the opaque ones. Each test holds one grant of each kind from one sign-in session.

use std::process::Command;

use ratchet_core::client::Client;
use ratchet_server::Clock;
use ratchet_store::User;
use serde_json::{Value, json};

use crate::support::*;

const EMAIL: &str = "alice@example.com";
const API: &str = "https://api.example";

/// The tokens of one grant, with the code that started it.
struct Issued {
    kind: &'static str,
    code: String,
    verifier: String,
    tokens: Value,
}

impl Issued {
    fn at(&self) -> &str {
        self.tokens["access_token"].as_str().expect("an access token")
    }
    fn rt(&self) -> &str {
        self.tokens["refresh_token"].as_str().expect("a refresh token")
    }
}

/// Signs alice in at `client` in `b` and authorizes twice in that session: once for `API` (a JWT
/// access token whose audience includes `/userinfo`) and once without an audience (an opaque one).
async fn jwt_and_opaque_in(app: &TestApp, b: &reqwest::Client, client: &Client) -> [Issued; 2] {
    let scope = "openid profile offline_access";
    let a = Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope, audience: Some(API), extra: vec![] };
    let (code, verifier) = app.code(b, &a, EMAIL).await;
    let tokens = app.exchange(client, &code, &verifier).await;
    let jwt = Issued { kind: "JWT", code, verifier, tokens };

    let (verifier, challenge) = pkce();
    let a = Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope, audience: None, extra: vec![] };
    let r = b.get(app.authorize_url(&a, &challenge, "sso")).send().await.unwrap();
    let code = param(r.headers()["location"].to_str().unwrap(), "code").expect("single sign-on gives a code");
    let tokens = app.exchange(client, &code, &verifier).await;
    let opaque = Issued { kind: "opaque", code, verifier, tokens };

    assert_eq!(jwt.at().matches('.').count(), 2, "a JWT access token");
    assert_eq!(opaque.at().matches('.').count(), 1, "an opaque access token");
    let both = [jwt, opaque];
    assert_userinfo(app, &both, 200, "before any revocation").await;
    both
}

async fn jwt_and_opaque(app: &TestApp, client: &Client) -> [Issued; 2] {
    jwt_and_opaque_in(app, &browser(), client).await
}

async fn setup() -> (TestApp, Client, User) {
    let app = TestApp::spawn().await;
    app.api(API, true).await;
    let client = app.spa().await;
    let alice = app.user(EMAIL).await;
    (app, client, alice)
}

async fn userinfo(app: &TestApp, at: &str) -> u16 {
    reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(at).send().await.unwrap().status().as_u16()
}

async fn assert_userinfo(app: &TestApp, issued: &[Issued], status: u16, what: &str) {
    for i in issued {
        assert_eq!(userinfo(app, i.at()).await, status, "{} access token {what}", i.kind);
    }
}

async fn revoke(app: &TestApp, client: &Client, token: &str) {
    let r = reqwest::Client::new()
        .post(app.url("/oauth/revoke"))
        .form(&[("client_id", client.client_id.as_str()), ("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

fn family_id(app: &TestApp, rt: &str) -> String {
    let (id, _) = app.state.keys.current().refresh.decode(rt).expect("our refresh token");
    id.to_string()
}

#[tokio::test]
async fn revoking_refresh_token_kills_access_tokens_at_userinfo() {
    let (app, client, _) = setup().await;
    let issued = jwt_and_opaque(&app, &client).await;
    let bystander = jwt_and_opaque(&app, &client).await;
    for i in &issued {
        revoke(&app, &client, i.rt()).await;
    }
    assert_userinfo(&app, &issued, 401, "after its refresh token was revoked").await;
    assert_userinfo(&app, &bystander, 200, "of another grant").await;
}

#[tokio::test]
async fn revoking_access_token_kills_its_grant_at_userinfo() {
    let (app, client, _) = setup().await;
    let issued = jwt_and_opaque(&app, &client).await;
    let other = app.spa().await;
    for i in &issued {
        revoke(&app, &other, i.at()).await;
    }
    assert_userinfo(&app, &issued, 200, "revoked by another client (RFC 7009 §2.1: nothing happens)").await;
    for i in &issued {
        revoke(&app, &client, i.at()).await;
    }
    assert_userinfo(&app, &issued, 401, "after it was revoked").await;
    for i in &issued {
        let (s, body) = app.refresh(&client, i.rt()).await;
        assert_invalid_refresh_token(s, &body, "the refresh token of a revoked grant");
    }
}

#[tokio::test]
async fn reuse_detection_kills_access_tokens_at_userinfo() {
    let (app, client, _) = setup().await;
    let issued = jwt_and_opaque(&app, &client).await;
    let mut rotated = Vec::new();
    for i in &issued {
        let (s, tokens) = app.refresh(&client, i.rt()).await;
        assert_eq!(s, 200, "{tokens}");
        rotated.push(Issued { kind: i.kind, code: String::new(), verifier: String::new(), tokens });
    }
    assert_userinfo(&app, &rotated, 200, "minted by a rotation").await;
    for i in &issued {
        let (s, body) = app.refresh(&client, i.rt()).await;
        assert_invalid_refresh_token(s, &body, "reuse of a rotated token");
    }
    assert_userinfo(&app, &issued, 401, "of the code exchange, after reuse detection").await;
    assert_userinfo(&app, &rotated, 401, "of the rotation, after reuse detection").await;
}

#[tokio::test]
async fn code_replay_kills_access_tokens_at_userinfo() {
    let (app, client, _) = setup().await;
    let issued = jwt_and_opaque(&app, &client).await;
    for i in &issued {
        let (s, body) = app
            .token(&[
                ("grant_type", "authorization_code"),
                ("client_id", &client.client_id),
                ("code", &i.code),
                ("code_verifier", &i.verifier),
                ("redirect_uri", CALLBACK),
            ])
            .await;
        assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    }
    assert_userinfo(&app, &issued, 401, "after its code was replayed").await;
}

#[tokio::test]
async fn blocking_user_kills_access_tokens_at_userinfo() {
    let (app, client, alice) = setup().await;
    let issued = jwt_and_opaque(&app, &client).await;
    let token = app.management_token("m2m", &["update:users"]);
    let path = format!("/users/{}", enc(&alice.user_id));
    assert_eq!(app.mgmt("PATCH", &path, &token, Some(json!({"blocked": true}))).await.0, 200);
    assert_userinfo(&app, &issued, 401, "of a blocked user").await;
    assert_eq!(app.mgmt("PATCH", &path, &token, Some(json!({"blocked": false}))).await.0, 200);
    assert_userinfo(&app, &issued, 401, "minted before the block, after unblocking").await;
}

#[tokio::test]
async fn deleting_user_kills_access_tokens_at_userinfo() {
    let (app, client, alice) = setup().await;
    let issued = jwt_and_opaque(&app, &client).await;
    let token = app.management_token("m2m", &["delete:users"]);
    assert_eq!(app.mgmt("DELETE", &format!("/users/{}", enc(&alice.user_id)), &token, None).await.0, 204);
    assert_userinfo(&app, &issued, 401, "of a deleted user").await;
    // A new user with the same email is another user: the old tokens stay dead.
    app.user(EMAIL).await;
    assert_userinfo(&app, &issued, 401, "of a deleted user whose email was reused").await;
}

#[tokio::test]
async fn management_revoke_kills_access_tokens_at_userinfo() {
    let (app, client, _) = setup().await;
    let token = app.management_token("m2m", &["delete:refresh_tokens"]);
    let by_id = jwt_and_opaque(&app, &client).await;
    let by_post = jwt_and_opaque(&app, &client).await;
    for i in &by_id {
        assert_eq!(app.mgmt("DELETE", &format!("/refresh-tokens/{}", family_id(&app, i.rt())), &token, None).await.0, 202);
    }
    assert_userinfo(&app, &by_id, 401, "after DELETE /api/v2/refresh-tokens/{id}").await;
    assert_userinfo(&app, &by_post, 200, "of grants not revoked yet").await;
    let ids: Vec<String> = by_post.iter().map(|i| family_id(&app, i.rt())).collect();
    assert_eq!(app.mgmt("POST", "/refresh-tokens/revoke", &token, Some(json!({ "ids": ids }))).await.0, 202);
    assert_userinfo(&app, &by_post, 401, "after POST /api/v2/refresh-tokens/revoke").await;
}

#[tokio::test]
async fn cli_revoke_kills_access_tokens_at_userinfo() {
    let (app, client, _) = setup().await;
    let issued = jwt_and_opaque(&app, &client).await;
    for i in &issued {
        let out = Command::new(env!("CARGO_BIN_EXE_ratchet"))
            .env("RATCHET_DATABASE_URL", format!("sqlite://{}", app.db_path.display()))
            .env("RATCHET_MASTER_KEY", MASTER_KEY)
            .args(["refresh-tokens", "revoke", &family_id(&app, i.rt())])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_userinfo(&app, &issued, 401, "after `ratchet refresh-tokens revoke`").await;
}

#[tokio::test]
async fn ending_session_kills_access_tokens_at_userinfo() {
    let (app, client, _) = setup().await;
    let b = browser();
    let mut issued = Vec::from(jwt_and_opaque_in(&app, &b, &client).await);
    // Grants without a refresh token (no offline_access), authorized in the same session.
    for audience in [Some(API), None] {
        let (verifier, challenge) = pkce();
        let a = Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope: "openid profile", audience, extra: vec![] };
        let r = b.get(app.authorize_url(&a, &challenge, "sso")).send().await.unwrap();
        let code = param(r.headers()["location"].to_str().unwrap(), "code").expect("single sign-on gives a code");
        let tokens = app.exchange(&client, &code, &verifier).await;
        assert!(tokens.get("refresh_token").is_none());
        let kind = if audience.is_some() { "JWT (no refresh token)" } else { "opaque (no refresh token)" };
        issued.push(Issued { kind, code, verifier, tokens });
    }
    assert_userinfo(&app, &issued, 200, "before the session ends").await;
    let other_session = jwt_and_opaque_in(&app, &browser(), &client).await;
    let sid = claims(issued[0].tokens["id_token"].as_str().unwrap())["sid"].as_str().unwrap().to_string();
    let token = app.management_token("m2m", &["delete:sessions", "delete:refresh_tokens"]);
    assert_eq!(app.mgmt("POST", &format!("/sessions/{sid}/revoke"), &token, None).await.0, 202);
    assert_userinfo(&app, &issued, 401, "of a session ended with its tokens").await;
    assert_userinfo(&app, &other_session, 200, "of another session").await;
}

#[tokio::test]
async fn a_jwt_access_token_without_a_grant_is_refused_at_userinfo() {
    let (app, _, alice) = setup().await;
    let now = app.clock.now();
    let claims = json!({
        "iss": app.issuer(), "sub": alice.user_id, "aud": [API, app.url("/userinfo")], "iat": now, "exp": now + 60,
        "scope": "openid", "azp": "c",
    });
    let forged_shape = app.state.keys.current().signing.sign(ratchet_core::jws::SigningAlg::RS256, &claims).unwrap();
    assert_eq!(userinfo(&app, &forged_shape).await, 401, "a signed token naming no grant cannot be revoked, so it is not accepted");
}
