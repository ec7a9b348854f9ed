//! Response headers and small protocol rules (issue 12 item 5): `nosniff` everywhere, HSTS for
//! an https issuer, uncached `/userinfo`, a bearer token in front of `/metrics`, the registered
//! client authentication method, repeated JSON keys, request objects, `POST /authorize` and the
//! RFC 9207 `iss` authorization response parameter.

use ratchet_core::client::{AppType, AuthMethod};
use ratchet_core::secret::Secret;
use serde_json::Value;

use crate::support::*;

const EMAIL: &str = "alice@example.com";

fn authorize(client_id: &str) -> Authorize<'_> {
    Authorize { client_id, redirect_uri: CALLBACK, scope: "openid offline_access", audience: None, extra: vec![] }
}

#[tokio::test]
async fn every_response_is_nosniff_and_no_hsts_over_http() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    let http = reqwest::Client::new();
    let (_, challenge) = pkce();
    let responses = [
        http.get(app.url("/healthz")).send().await.unwrap(),
        http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap(),
        http.get(app.url("/no/such/path")).send().await.unwrap(),
        http.get(app.url("/authorize?client_id=nobody")).send().await.unwrap(),
        http.get(app.authorize_url(&authorize(&client.client_id), &challenge, "s")).send().await.unwrap(),
        http.post(app.url("/oauth/token")).form(&[("grant_type", "password")]).send().await.unwrap(),
        http.get(app.url("/userinfo")).send().await.unwrap(),
        http.get(app.url("/api/v2/users")).send().await.unwrap(),
    ];
    for r in responses {
        assert_eq!(r.headers().get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"), "{}", r.url());
        assert!(r.headers().get("strict-transport-security").is_none(), "no HSTS for an http issuer: {}", r.url());
    }
}

#[tokio::test]
async fn hsts_is_sent_when_the_issuer_is_https() {
    let app = TestApp::spawn_with(|c| c.issuer = Some(ratchet_server::config::parse_issuer("https://auth.example").unwrap())).await;
    for path in ["/healthz", "/.well-known/jwks.json", "/nothing"] {
        let r = reqwest::get(app.url(path)).await.unwrap();
        let hsts = r.headers().get("strict-transport-security").map(|v| v.to_str().unwrap().to_string());
        assert!(hsts.as_deref().is_some_and(|h| h.starts_with("max-age=")), "{path}: {hsts:?}");
    }
}

#[tokio::test]
async fn userinfo_answers_are_not_cached() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    app.user(EMAIL).await;
    let tokens = app.sign_in_tokens(&client, EMAIL, "openid profile", None).await;
    let http = reqwest::Client::new();
    let ok = http.get(app.url("/userinfo")).bearer_auth(tokens["access_token"].as_str().unwrap()).send().await.unwrap();
    let refused = http.get(app.url("/userinfo")).bearer_auth("nonsense").send().await.unwrap();
    assert_eq!((ok.status().as_u16(), refused.status().as_u16()), (200, 401));
    for r in [ok, refused] {
        assert_eq!(r.headers()["cache-control"], "no-store");
    }
}

#[tokio::test]
async fn metrics_require_the_configured_bearer_token() {
    let app = TestApp::spawn_with(|c| c.metrics_token = Some(Secret::new("metrics-secret"))).await;
    let http = reqwest::Client::new();
    let anonymous = http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    assert_eq!(http.get(app.url("/metrics")).bearer_auth("wrong").send().await.unwrap().status(), 401);
    let allowed = http.get(app.url("/metrics")).bearer_auth("metrics-secret").send().await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert!(allowed.text().await.unwrap().contains("ratchet"), "the metrics themselves");
    assert_eq!(http.get(app.url("/healthz")).send().await.unwrap().status(), 200, "only /metrics is guarded");
}

#[tokio::test]
async fn public_client_presenting_a_secret_is_invalid_client() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    app.user(EMAIL).await;
    let rt = app.refresh_token(&client, EMAIL).await;
    let (s, body) = app
        .token(&[("grant_type", "refresh_token"), ("client_id", &client.client_id), ("client_secret", "guess"), ("refresh_token", &rt)])
        .await;
    assert_eq!((s, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    let r = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .basic_auth(&client.client_id, Some("guess"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", rt.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(app.refresh(&client, &rt).await.0, 200, "the refresh token was never spent by the refused requests");
}

#[tokio::test]
async fn client_secret_basic_for_a_client_secret_post_client_is_invalid_client() {
    let app = TestApp::spawn().await;
    app.api("https://api.example", false).await;
    let (client_id, secret) = app.m2m_client("https://api.example", &[]).await;
    let mut client = app.state.store.client(&client_id).await.unwrap().unwrap().client;
    assert_eq!(client.token_endpoint_auth_method, AuthMethod::ClientSecretPost);
    let basic = || {
        reqwest::Client::new()
            .post(app.url("/oauth/token"))
            .basic_auth(&client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials"), ("audience", "https://api.example")])
            .send()
    };
    let r = basic().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client", "{body}");
    // And the other way round: a client_secret_basic client sending its secret in the body.
    client.token_endpoint_auth_method = AuthMethod::ClientSecretBasic;
    assert!(app.state.store.update_client(&client).await.unwrap());
    let post =
        [("grant_type", "client_credentials"), ("client_id", &client_id), ("client_secret", &secret), ("audience", "https://api.example")];
    let (s, body) = app.token(&post).await;
    assert_eq!((s, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    assert_eq!(basic().await.unwrap().status(), 200, "the registered method works");
}

#[tokio::test]
async fn repeated_keys_in_json_token_requests_are_refused() {
    let app = TestApp::spawn().await;
    let (client, secret) = app.client_with(AppType::RegularWeb, |_| {}).await;
    let body = format!(
        r#"{{"grant_type":"client_credentials","client_id":"{}","client_secret":"{}","client_id":"someone-else"}}"#,
        client.client_id,
        secret.unwrap()
    );
    let r =
        reqwest::Client::new().post(app.url("/oauth/token")).header("content-type", "application/json").body(body).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
}

#[tokio::test]
async fn request_objects_are_answered_with_request_not_supported() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    let (_, challenge) = pkce();
    for (name, error) in [("request", "request_not_supported"), ("request_uri", "request_uri_not_supported")] {
        let mut a = authorize(&client.client_id);
        a.extra.push((name, "eyJhbGciOiJub25lIn0.e30.".into()));
        let r = browser().get(app.authorize_url(&a, &challenge, "st")).send().await.unwrap();
        assert_eq!(r.status(), 302);
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        assert!(loc.starts_with(CALLBACK), "{loc}");
        assert_eq!(param(&loc, "error").as_deref(), Some(error), "{loc}");
        assert_eq!(param(&loc, "state").as_deref(), Some("st"));
        assert_eq!(param(&loc, "iss"), Some(app.issuer()), "error responses carry iss too (RFC 9207 §2)");
    }
}

#[tokio::test]
async fn authorization_responses_carry_iss_and_discovery_says_so() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    app.user(EMAIL).await;
    let (verifier, challenge) = pkce();
    let r = app.sign_in(&browser(), &app.authorize_url(&authorize(&client.client_id), &challenge, "st"), EMAIL, PASSWORD).await;
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(param(&loc, "iss"), Some(app.issuer()), "{loc}");
    let code = param(&loc, "code").unwrap();
    assert!(app.exchange(&client, &code, &verifier).await["access_token"].is_string());
    let discovery: Value = reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(discovery["authorization_response_iss_parameter_supported"], true);
}

#[tokio::test]
async fn post_authorize_is_supported() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    app.user(EMAIL).await;
    let b = browser();
    // A session first (the login page), then an authorization request sent as a form.
    app.code(&b, &authorize(&client.client_id), EMAIL).await;
    let (verifier, challenge) = pkce();
    let url = url::Url::parse(&app.authorize_url(&authorize(&client.client_id), &challenge, "posted")).unwrap();
    let form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let r = b.post(app.url("/authorize")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(CALLBACK), "{loc}");
    assert_eq!(param(&loc, "state").as_deref(), Some("posted"));
    let code = param(&loc, "code").expect("a code");
    assert!(app.exchange(&client, &code, &verifier).await["access_token"].is_string());
    // Without a session the form-posted request leads to the login page like a GET.
    let r = browser().post(app.url("/authorize")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert!(r.headers()["location"].to_str().unwrap().starts_with("/u/login?state="));
}

#[tokio::test]
async fn non_loopback_http_callbacks_are_refused_at_registration() {
    let app = TestApp::spawn_with(|c| c.allow_insecure_callbacks = false).await;
    let token = app.management_token("m2m", &["create:clients", "update:clients"]);
    let create = |cb: &str| serde_json::json!({"name": "App", "app_type": "spa", "callbacks": [cb]});
    let (s, body) = app.mgmt("POST", "/clients", &token, Some(create("http://app.example/callback"))).await;
    assert_eq!(s, 400, "{body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("http"), "{body}");
    for cb in ["https://app.example/callback", "http://localhost:8080/callback", "http://127.0.0.1:3001/"] {
        let (s, body) = app.mgmt("POST", "/clients", &token, Some(create(cb))).await;
        assert_eq!(s, 201, "{cb}: {body}");
    }
    let (_, created) = app.mgmt("POST", "/clients", &token, Some(create("https://app.example/callback"))).await;
    let path = format!("/clients/{}", created["client_id"].as_str().unwrap());
    let patch = serde_json::json!({"callbacks": ["http://app.example/callback"]});
    assert_eq!(app.mgmt("PATCH", &path, &token, Some(patch)).await.0, 400, "nor added later");
}
