//! The `/api/v2` route table against its OpenAPI document: every Auth0 endpoint Ratchet promises
//! is routed and described, and every described route refuses a caller without its scopes (the
//! scopes come from the document, so this walks the whole router).

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::TestApp;

/// The Auth0 Management API endpoints Ratchet serves (docs/management-api.md lists them).
const PROMISED: &[(&str, &str)] = &[
    ("get", "/clients"),
    ("post", "/clients"),
    ("get", "/clients/{}"),
    ("patch", "/clients/{}"),
    ("delete", "/clients/{}"),
    ("post", "/clients/{}/rotate-secret"),
    ("get", "/resource-servers"),
    ("post", "/resource-servers"),
    ("get", "/resource-servers/{}"),
    ("patch", "/resource-servers/{}"),
    ("delete", "/resource-servers/{}"),
    ("get", "/client-grants"),
    ("post", "/client-grants"),
    ("patch", "/client-grants/{}"),
    ("delete", "/client-grants/{}"),
    ("get", "/users"),
    ("post", "/users"),
    ("get", "/users/{}"),
    ("patch", "/users/{}"),
    ("delete", "/users/{}"),
    ("get", "/users-by-email"),
    ("get", "/user-blocks/{}"),
    ("delete", "/user-blocks/{}"),
    ("get", "/users/{}/refresh-tokens"),
    ("delete", "/users/{}/refresh-tokens"),
    ("get", "/refresh-tokens/{}"),
    ("delete", "/refresh-tokens/{}"),
    ("post", "/refresh-tokens/revoke"),
    ("get", "/users/{}/sessions"),
    ("delete", "/users/{}/sessions"),
    ("get", "/sessions/{}"),
    ("delete", "/sessions/{}"),
    ("post", "/sessions/{}/revoke"),
    ("get", "/logs"),
    ("get", "/logs/{}"),
    ("get", "/users/{}/logs"),
    ("get", "/stats/active-users"),
    // Ratchet's extension (docs/management-api.md §5).
    ("get", "/stats/live"),
];

/// `/users/{id}/logs` → `/users/{}/logs`.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

async fn document(app: &TestApp) -> Value {
    reqwest::get(app.url("/api/v2/openapi.json")).await.unwrap().json().await.unwrap()
}

/// (method, OpenAPI path, scope alternatives) of every described operation.
fn operations(doc: &Value) -> Vec<(String, String, Vec<Vec<String>>)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let alternatives = op["security"]
                .as_array()
                .map(|reqs| {
                    reqs.iter().map(|r| r["bearer"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()).collect()
                })
                .unwrap_or_default();
            out.push((method.clone(), path.clone(), alternatives));
        }
    }
    out
}

#[tokio::test]
async fn every_promised_auth0_endpoint_is_in_the_openapi_document() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let described: Vec<(String, String)> = operations(&doc).into_iter().map(|(m, p, _)| (m, shape(&p))).collect();
    let missing: Vec<_> = PROMISED.iter().filter(|(m, p)| !described.contains(&(m.to_string(), p.to_string()))).collect();
    assert!(missing.is_empty(), "routes missing from the OpenAPI document: {missing:?}");
}

#[tokio::test]
async fn every_described_route_is_routed_and_refuses_a_token_without_its_scopes() {
    // Three requests per route, all at one instant of the test clock: above the default rate limit.
    let app = TestApp::spawn_with(|c| c.management.rate_limit = 10_000).await;
    let doc = document(&app).await;
    let ops = operations(&doc);
    assert!(ops.len() >= PROMISED.len());
    let no_scopes = app.management_token("walker", &["read:nothing"]);
    let http = reqwest::Client::new();
    for (method, path, alternatives) in ops {
        assert!(!alternatives.is_empty(), "{method} {path} declares no scopes");
        let url = app.url(&format!("/api/v2{}", path.replace('{', "x").replace('}', "")));
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        // Without a token: 401.
        let res = http.request(method.clone(), &url).json(&serde_json::json!({})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path} without a token");
        // With a valid token lacking the scopes: 403 naming them (so the route is routed).
        let res = http.request(method.clone(), &url).bearer_auth(&no_scopes).json(&serde_json::json!({})).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path} without its scopes");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["errorCode"], "insufficient_scope", "{method} {path}");
        for all in &alternatives {
            assert!(body["message"].as_str().unwrap().contains(&all.join(" ")), "{method} {path}: {body}");
        }
        // With exactly one alternative's scopes, the scope check passes (any other status).
        let token = app.management_token("walker", &alternatives[0].iter().map(String::as_str).collect::<Vec<_>>());
        let res = http.request(method.clone(), &url).bearer_auth(&token).json(&serde_json::json!({})).send().await.unwrap();
        assert_ne!(res.status(), StatusCode::FORBIDDEN, "{method} {path} with {:?}", alternatives[0]);
    }
}
