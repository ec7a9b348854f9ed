//! The `/api/v2` framework: who may call it, Auth0's error bodies, rate-limit headers, CORS only
//! for configured origins, and the OpenAPI document.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::TestApp;

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn management_api_without_a_token_is_401_with_auth0s_body() {
    let app = TestApp::spawn().await;
    let res = get(&app, "/api/v2/openapi-missing", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["statusCode"], 401);
    assert_eq!(body["error"], "Unauthorized");
    assert_eq!(body["message"], "Missing authentication");
    assert!(body.get("errorCode").is_none(), "Auth0's 401 has no errorCode: {body}");
}

#[tokio::test]
async fn a_malformed_authorization_header_is_400_bearer() {
    let app = TestApp::spawn().await;
    let res = reqwest::Client::new().get(app.url("/api/v2/clients")).header("authorization", "Basic abc").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errorCode"], "Bearer");
}

#[tokio::test]
async fn a_token_for_a_registered_api_is_refused_by_the_management_api() {
    let app = TestApp::spawn().await;
    app.api("https://api.example", true).await;
    let token = app.token_for("some-client", "https://api.example", &["read:clients"]);
    let res = get(&app, "/api/v2/no-such-route", Some(&token)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.json::<Value>().await.unwrap()["message"], "Invalid token");
}

#[tokio::test]
async fn a_forged_or_expired_management_token_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.management_token("c", &["read:clients"]);
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let (head, _) = token.rsplit_once('.').unwrap();
    let tampered_claims = format!("{head}x.{}", token.rsplit('.').next().unwrap());
    for bad in [forged, tampered_claims, "not-a-jwt".to_string()] {
        let res = get(&app, "/api/v2/no-such-route", Some(&bad)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bad}");
    }
    app.clock.advance(3601);
    let res = get(&app, "/api/v2/no-such-route", Some(&token)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.json::<Value>().await.unwrap()["message"], "Expired token");
}

#[tokio::test]
async fn the_https_form_of_the_audience_that_auth0_sdks_ask_for_is_accepted() {
    let app = TestApp::spawn().await;
    let https = app.issuer().replacen("http://", "https://", 1);
    let token = app.token_for("c", &format!("{https}api/v2/"), &["read:clients"]);
    // An unknown route answers 404 only after the token was accepted.
    let res = get(&app, "/api/v2/no-such-route", Some(&token)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.json::<Value>().await.unwrap()["statusCode"], 404);
}

#[tokio::test]
async fn every_management_response_carries_rate_limit_headers_and_the_limit_answers_429() {
    let app = TestApp::spawn_with(|c| c.management.rate_limit = 3).await;
    let token = app.management_token("c", &[]);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let res = get(&app, "/api/v2/no-such-route", Some(&token)).await;
        for h in ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"] {
            assert!(res.headers().contains_key(h), "{h} missing");
        }
        assert_eq!(res.headers()["x-ratelimit-limit"], "3");
        let reset: u64 = res.headers()["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
        assert!(reset >= app.state.now() as u64, "the reset is a Unix time in seconds");
        let status = res.status();
        statuses.push(status);
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(res.headers().contains_key("retry-after"));
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["errorCode"], "too_many_requests");
        }
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 2, "{statuses:?}");
    // Another caller has its own budget.
    let other = app.management_token("other", &[]);
    assert_eq!(get(&app, "/api/v2/no-such-route", Some(&other)).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn management_cors_is_offered_only_to_configured_origins() {
    let app = TestApp::spawn_with(|c| c.management.cors_origins = vec!["https://admin.example".into()]).await;
    let token = app.management_token("c", &[]);
    for (origin, allowed) in [("https://admin.example", true), ("https://evil.example", false)] {
        let res =
            reqwest::Client::new().get(app.url("/api/v2/no-such-route")).bearer_auth(&token).header("origin", origin).send().await.unwrap();
        assert_eq!(res.headers().get("access-control-allow-origin").is_some(), allowed, "{origin}");
        let pre = reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, app.url("/api/v2/clients"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert_eq!(pre.headers().get("access-control-allow-origin").is_some(), allowed, "{origin}");
    }
}

#[tokio::test]
async fn the_openapi_document_is_openapi_3_1_with_bearer_security() {
    let app = TestApp::spawn().await;
    let res = get(&app, "/api/v2/openapi.json", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}
