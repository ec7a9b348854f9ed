//! `/authorize` validation, one test per rule.

use crate::support::*;

async fn get(url: &str) -> reqwest::Response {
    browser().get(url).send().await.unwrap()
}

fn base_params(client_id: &str, redirect_uri: &str) -> Vec<(&'static str, String)> {
    let (_, challenge) = pkce();
    vec![
        ("client_id", client_id.to_string()),
        ("redirect_uri", redirect_uri.to_string()),
        ("response_type", "code".into()),
        ("scope", "openid".into()),
        ("state", "abc".into()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256".into()),
    ]
}

fn with(mut p: Vec<(&'static str, String)>, k: &'static str, v: Option<&str>) -> Vec<(&'static str, String)> {
    p.retain(|(n, _)| *n != k);
    if let Some(v) = v {
        p.push((k, v.to_string()));
    }
    p
}

fn url(app: &TestApp, p: &[(&'static str, String)]) -> String {
    let mut u = url::Url::parse(&app.url("/authorize")).unwrap();
    u.query_pairs_mut().extend_pairs(p.iter().map(|(k, v)| (*k, v.as_str())));
    u.to_string()
}

/// An error delivered to the redirect URI: returns `(error, state)`.
async fn redirected_error(app: &TestApp, p: &[(&'static str, String)]) -> (String, Option<String>) {
    let r = get(&url(app, p)).await;
    assert_eq!(r.status(), 302, "errors after validation go back to the client");
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(CALLBACK), "{loc}");
    (param(&loc, "error").expect("error"), param(&loc, "state"))
}

async fn assert_error_page(r: reqwest::Response) {
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none(), "never redirect to an unvalidated URI");
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
}

#[tokio::test]
async fn unknown_client_gets_an_error_page_not_a_redirect() {
    let app = TestApp::spawn().await;
    assert_error_page(get(&url(&app, &base_params("nope", CALLBACK))).await).await;
}

#[tokio::test]
async fn redirect_uri_must_match_exactly() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    for bad in [
        "http://spa.test:8080/callback/",
        "http://spa.test:8080/callback?x=1",
        "http://spa.test:8081/callback",
        "https://spa.test:8080/callback",
        "http://SPA.test:8080/Callback",
        "http://spa.test:8080/callbackx",
    ] {
        assert_error_page(get(&url(&app, &base_params(&c.client_id, bad))).await).await;
    }
    assert_error_page(get(&url(&app, &with(base_params(&c.client_id, CALLBACK), "redirect_uri", None))).await).await;
}

#[tokio::test]
async fn open_redirect_attempts_are_refused() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    for evil in ["https://evil.example/", "//evil.example", "javascript:alert(1)", "http://spa.test:8080@evil.example/callback"] {
        // Even an otherwise invalid request must not bounce to an unregistered URI.
        let p = with(base_params(&c.client_id, evil), "response_type", Some("token"));
        assert_error_page(get(&url(&app, &p)).await).await;
    }
}

#[tokio::test]
async fn errors_after_validation_carry_the_exact_state() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let p = with(with(base_params(&c.client_id, CALLBACK), "response_type", Some("token")), "state", Some("a b&c=d/é"));
    let (error, state) = redirected_error(&app, &p).await;
    assert_eq!(error, "unsupported_response_type");
    assert_eq!(state.as_deref(), Some("a b&c=d/é"));
}

#[tokio::test]
async fn response_type_is_required() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let (error, _) = redirected_error(&app, &with(base_params(&c.client_id, CALLBACK), "response_type", None)).await;
    assert_eq!(error, "invalid_request");
}

#[tokio::test]
async fn pkce_is_required_for_public_clients() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let p = with(with(base_params(&c.client_id, CALLBACK), "code_challenge", None), "code_challenge_method", None);
    assert_eq!(redirected_error(&app, &p).await.0, "invalid_request");
}

#[tokio::test]
async fn pkce_downgrade_to_plain_is_refused() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let p = with(base_params(&c.client_id, CALLBACK), "code_challenge_method", Some("plain"));
    assert_eq!(redirected_error(&app, &p).await.0, "invalid_request");
    let p = with(base_params(&c.client_id, CALLBACK), "code_challenge_method", None);
    assert_eq!(redirected_error(&app, &p).await.0, "invalid_request", "absent method means plain");
}

#[tokio::test]
async fn audience_must_be_a_registered_api() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let p = with(base_params(&c.client_id, CALLBACK), "audience", Some("https://unknown.api"));
    assert_eq!(redirected_error(&app, &p).await.0, "access_denied");
}

#[tokio::test]
async fn invalid_scope_characters_are_refused() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let p = with(base_params(&c.client_id, CALLBACK), "scope", Some("openid \"bad\""));
    assert_eq!(redirected_error(&app, &p).await.0, "invalid_scope");
}

#[tokio::test]
async fn prompt_and_max_age_are_validated() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let p = with(base_params(&c.client_id, CALLBACK), "prompt", Some("none login"));
    assert_eq!(redirected_error(&app, &p).await.0, "invalid_request");
    let p = with(base_params(&c.client_id, CALLBACK), "prompt", Some("sideways"));
    assert_eq!(redirected_error(&app, &p).await.0, "invalid_request");
    let p = with(base_params(&c.client_id, CALLBACK), "max_age", Some("-1"));
    assert_eq!(redirected_error(&app, &p).await.0, "invalid_request");
    let p = with(base_params(&c.client_id, CALLBACK), "response_mode", Some("carrier_pigeon"));
    assert_eq!(redirected_error(&app, &p).await.0, "invalid_request");
}

#[tokio::test]
async fn unknown_parameters_are_ignored() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let mut p = base_params(&c.client_id, CALLBACK);
    p.push(("auth0Client", "eyJuYW1lIjoiYXV0aDAtc3BhLWpzIn0=".into()));
    p.push(("ui_locales", "fr".into()));
    let r = get(&url(&app, &p)).await;
    assert_eq!(r.status(), 302);
    assert!(r.headers()["location"].to_str().unwrap().starts_with("/u/login?state="));
}

#[tokio::test]
async fn web_message_requires_a_registered_web_origin() {
    let app = TestApp::spawn().await;
    let (c, _) = app.client_with(ratchet_core::client::AppType::Spa, |c| c.web_origins.clear()).await;
    let p = with(with(base_params(&c.client_id, CALLBACK), "response_mode", Some("web_message")), "prompt", Some("none"));
    let r = get(&url(&app, &p)).await;
    assert_error_page(r).await;
}

#[tokio::test]
async fn repeated_parameters_are_refused() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let mut p = base_params(&c.client_id, CALLBACK);
    p.push(("client_id", c.client_id.clone()));
    assert_error_page(get(&url(&app, &p)).await).await;
}

#[tokio::test]
async fn machine_to_machine_clients_cannot_use_authorize() {
    let app = TestApp::spawn().await;
    let (c, _) = app.client_with(ratchet_core::client::AppType::NonInteractive, |c| c.callbacks = vec![CALLBACK.into()]).await;
    let p = base_params(&c.client_id, CALLBACK);
    assert_eq!(redirected_error(&app, &p).await.0, "unauthorized_client");
}
