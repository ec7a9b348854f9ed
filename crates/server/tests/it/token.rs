//! `/oauth/token` for codes and client credentials, `/userinfo`, CORS.

use ratchet_core::client::AppType;
use serde_json::Value;

use crate::support::*;

fn code_form<'a>(client_id: &'a str, code: &'a str, verifier: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code),
        ("code_verifier", verifier),
        ("redirect_uri", CALLBACK),
    ]
}

async fn code_for(app: &TestApp, client_id: &str, scope: &str, audience: Option<&str>) -> (String, String) {
    let a = Authorize { client_id, redirect_uri: CALLBACK, scope, audience, extra: vec![] };
    app.code(&browser(), &a, "alice@example.com").await
}

#[tokio::test]
async fn full_code_flow_with_pkce_returns_signed_tokens() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let user = app.user("alice@example.com").await;
    let (code, verifier) = code_for(&app, &c.client_id, "openid profile email offline_access", None).await;
    let r = reqwest::Client::new().post(app.url("/oauth/token")).form(&code_form(&c.client_id, &code, &verifier)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert!(body["expires_in"].is_i64(), "expires_in is a number: {body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["refresh_token"].is_string());
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], app.issuer());
    assert!(id["iss"].as_str().unwrap().ends_with('/'));
    assert_eq!(id["sub"], user.user_id.as_str());
    assert_eq!(id["aud"], c.client_id.as_str());
    assert_eq!(id["azp"], c.client_id.as_str());
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["email"], "alice@example.com");
    assert_eq!(id["name"], "Test User");
    assert!(id["auth_time"].is_i64() && id["sid"].is_string() && id["iat"].is_i64() && id["exp"].is_i64());
    // The signature verifies against the published JWKS.
    let jwks: Value = reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kid"], app.state.keys.current().signing.active(ratchet_core::jws::KeyType::Rsa).kid());
    assert!(app.state.keys.current().signing.verify(body["id_token"].as_str().unwrap()).is_some());
    // No API audience: an opaque access token that works at /userinfo.
    let at = body["access_token"].as_str().unwrap();
    let info: Value = reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(at).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["sub"], user.user_id.as_str());
    assert_eq!(info["email"], "alice@example.com");
}

#[tokio::test]
async fn claims_follow_the_granted_scope() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let (code, verifier) = code_for(&app, &c.client_id, "openid", None).await;
    let (s, body) = app.token(&code_form(&c.client_id, &code, &verifier)).await;
    assert_eq!(s, 200);
    let id = claims(body["id_token"].as_str().unwrap());
    assert!(id.get("email").is_none() && id.get("name").is_none(), "{id}");
    assert!(body.get("refresh_token").is_none(), "no offline_access, no refresh token");
}

#[tokio::test]
async fn api_audience_gets_a_jwt_access_token_for_api_and_userinfo() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    app.api("https://api.example", true).await;
    let (code, verifier) = code_for(&app, &c.client_id, "openid offline_access", Some("https://api.example")).await;
    let (s, body) = app.token(&code_form(&c.client_id, &code, &verifier)).await;
    assert_eq!(s, 200, "{body}");
    let at = claims(body["access_token"].as_str().unwrap());
    assert_eq!(at["aud"], serde_json::json!(["https://api.example", app.url("/userinfo")]));
    assert_eq!(at["iss"], app.issuer());
    assert_eq!(body["expires_in"], 3600);
    let r = reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(body["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn code_replay_is_invalid_grant_and_revokes_what_was_issued() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let (code, verifier) = code_for(&app, &c.client_id, "openid offline_access", None).await;
    let (s, first) = app.token(&code_form(&c.client_id, &code, &verifier)).await;
    assert_eq!(s, 200);
    let (s, again) = app.token(&code_form(&c.client_id, &code, &verifier)).await;
    assert_eq!((s, again["error"].as_str()), (400, Some("invalid_grant")));
    // The refresh token and the opaque access token from the first exchange are dead.
    let (s, _) = app.refresh(&c, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 403);
    let r = reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(first["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn code_is_bound_to_its_client() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let other = app.spa().await;
    app.user("alice@example.com").await;
    let (code, verifier) = code_for(&app, &c.client_id, "openid", None).await;
    let (s, body) = app.token(&code_form(&other.client_id, &code, &verifier)).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn code_is_bound_to_its_redirect_uri() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let (code, verifier) = code_for(&app, &c.client_id, "openid", None).await;
    let mut form = code_form(&c.client_id, &code, &verifier);
    form.retain(|(k, _)| *k != "redirect_uri");
    form.push(("redirect_uri", "http://spa.test:8080/other"));
    let (s, body) = app.token(&form).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn code_requires_the_matching_pkce_verifier() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let (code, _) = code_for(&app, &c.client_id, "openid", None).await;
    let (other_verifier, _) = pkce();
    let (s, body) = app.token(&code_form(&c.client_id, &code, &other_verifier)).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
    let (code, _) = code_for(&app, &c.client_id, "openid", None).await;
    let mut form = code_form(&c.client_id, &code, "");
    form.retain(|(k, _)| *k != "code_verifier");
    let (s, body) = app.token(&form).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_request")));
}

#[tokio::test]
async fn expired_code_is_refused() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let (code, verifier) = code_for(&app, &c.client_id, "openid", None).await;
    app.clock.advance(60);
    let (s, body) = app.token(&code_form(&c.client_id, &code, &verifier)).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn json_bodies_are_accepted() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let (code, verifier) = code_for(&app, &c.client_id, "openid", None).await;
    let body: serde_json::Map<String, Value> =
        code_form(&c.client_id, &code, &verifier).into_iter().map(|(k, v)| (k.to_string(), Value::from(v))).collect();
    let r = reqwest::Client::new().post(app.url("/oauth/token")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn client_credentials_with_basic_and_post_authentication() {
    let app = TestApp::spawn().await;
    app.api("https://api.example", false).await;
    let (client_id, secret) = app.m2m_client("https://api.example", &[]).await;
    let mut m2m = app.state.store.client(&client_id).await.unwrap().unwrap().client;
    assert!(secret.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "URL-safe secret");
    // Each method works for a client registered with it.
    m2m.token_endpoint_auth_method = ratchet_core::client::AuthMethod::ClientSecretBasic;
    assert!(app.state.store.update_client(&m2m).await.unwrap());
    let http = reqwest::Client::new();
    let r = http
        .post(app.url("/oauth/token"))
        .basic_auth(&m2m.client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("audience", "https://api.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let at = claims(body["access_token"].as_str().unwrap());
    assert_eq!(at["sub"], format!("{}@clients", m2m.client_id));
    assert_eq!(at["aud"], "https://api.example");
    m2m.token_endpoint_auth_method = ratchet_core::client::AuthMethod::ClientSecretPost;
    assert!(app.state.store.update_client(&m2m).await.unwrap());
    let (s, _) = app
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &m2m.client_id),
            ("client_secret", &secret),
            ("audience", "https://api.example"),
        ])
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client() {
    let app = TestApp::spawn().await;
    app.api("https://api.example", false).await;
    let (m2m, _) = app.client_with(AppType::NonInteractive, |_| {}).await;
    let r = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .basic_auth(&m2m.client_id, Some("wrong"))
        .form(&[("grant_type", "client_credentials"), ("audience", "https://api.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    let (s, body) =
        app.token(&[("grant_type", "client_credentials"), ("client_id", &m2m.client_id), ("audience", "https://api.example")]).await;
    assert_eq!((s, body["error"].as_str()), (401, Some("invalid_client")), "missing secret");
}

#[tokio::test]
async fn public_clients_cannot_use_client_credentials() {
    let app = TestApp::spawn().await;
    app.api("https://api.example", false).await;
    let c = app.spa().await;
    let (s, body) =
        app.token(&[("grant_type", "client_credentials"), ("client_id", &c.client_id), ("audience", "https://api.example")]).await;
    assert_eq!((s, body["error"].as_str()), (403, Some("unauthorized_client")));
}

#[tokio::test]
async fn unsupported_grant_type_and_missing_parameters() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let (s, body) = app.token(&[("grant_type", "password"), ("client_id", &c.client_id)]).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("unsupported_grant_type")));
    let (s, body) = app.token(&[("client_id", &c.client_id)]).await;
    assert_eq!((s, body["error_description"].as_str()), (400, Some("Missing required parameter: grant_type")));
}

#[tokio::test]
async fn userinfo_refuses_bad_tokens() {
    let app = TestApp::spawn().await;
    for auth in ["Bearer nonsense", "Bearer a.b.c", "Basic abc"] {
        let r = reqwest::Client::new().get(app.url("/userinfo")).header("authorization", auth).send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth}");
        assert!(r.headers().get("www-authenticate").is_some());
    }
}

#[tokio::test]
async fn cors_preflight_allows_registered_origins_only() {
    let app = TestApp::spawn().await;
    app.spa().await;
    let http = reqwest::Client::new();
    for path in ["/oauth/token", "/oauth/revoke", "/userinfo"] {
        let r = http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", SPA_ORIGIN)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "auth0-client, content-type, dpop")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{path}");
        assert_eq!(r.headers()["access-control-allow-origin"], SPA_ORIGIN);
        let allowed = r.headers()["access-control-allow-headers"].to_str().unwrap().to_lowercase();
        for h in ["auth0-client", "content-type", "dpop"] {
            assert!(allowed.contains(h), "{allowed}");
        }
        assert!(r.headers()["access-control-allow-methods"].to_str().unwrap().contains("POST"));
        let foreign = http.request(reqwest::Method::OPTIONS, app.url(path)).header("origin", "https://evil.example").send().await.unwrap();
        assert!(foreign.headers().get("access-control-allow-origin").is_none(), "{path}");
        assert_eq!(foreign.status(), 403);
    }
}

#[tokio::test]
async fn token_requests_from_foreign_origins_are_refused() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let rt = app.refresh_token(&c, "alice@example.com").await;
    let http = reqwest::Client::new();
    let r = http
        .post(app.url("/oauth/token"))
        .header("origin", "https://evil.example")
        .form(&[("grant_type", "refresh_token"), ("client_id", c.client_id.as_str()), ("refresh_token", rt.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // The token was not rotated by the refused request.
    let r = http
        .post(app.url("/oauth/token"))
        .header("origin", SPA_ORIGIN)
        .form(&[("grant_type", "refresh_token"), ("client_id", c.client_id.as_str()), ("refresh_token", rt.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], SPA_ORIGIN);
}

#[tokio::test]
async fn discovery_documents_the_endpoints_with_a_trailing_slash_issuer() {
    let app = TestApp::spawn().await;
    let r = reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["issuer"], app.issuer());
    assert_eq!(d["token_endpoint"], app.url("/oauth/token"));
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert!(d["response_modes_supported"].as_array().unwrap().contains(&Value::from("web_message")));
    assert!(d["grant_types_supported"].as_array().unwrap().contains(&Value::from("refresh_token")));
}
