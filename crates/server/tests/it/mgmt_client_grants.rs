//! `/api/v2/client-grants`, and the security rules of management tokens end to end: a real
//! `client_credentials` token drives `/api/v2`; a token for a registered API is refused there.

use reqwest::Method;
use serde_json::json;

use crate::mgmt_clients::call;
use crate::support::*;

const ALL: &[&str] = &["read:client_grants", "create:client_grants", "update:client_grants", "delete:client_grants"];

#[tokio::test]
async fn client_grants_are_created_listed_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let t = app.management_token("admin", ALL);
    let api = ratchet_server::service::manage::apis::NewApi {
        identifier: "https://api.example".into(),
        scopes: vec![ratchet_core::client::ApiScope::parse("read:a").unwrap(), ratchet_core::client::ApiScope::parse("write:a").unwrap()],
        ..Default::default()
    };
    app.state.manage.apis.create(api).await.unwrap();
    let (m2m, _) = app.client_with(ratchet_core::client::AppType::NonInteractive, |_| {}).await;
    let new = json!({"client_id": m2m.client_id, "audience": "https://api.example", "scope": ["read:a"]});
    let (s, g) = call(&app, Method::POST, "/client-grants", &t, Some(new.clone())).await;
    assert_eq!(s, 201, "{g}");
    assert_eq!(g["scope"], json!(["read:a"]));
    let (s, body) = call(&app, Method::POST, "/client-grants", &t, Some(new)).await;
    assert_eq!((s, body["errorCode"].as_str()), (409, Some("conflict")), "{body}");
    let (s, body) =
        call(&app, Method::POST, "/client-grants", &t, Some(json!({"client_id": m2m.client_id, "audience": "https://nope.example"}))).await;
    assert_eq!((s, body["errorCode"].as_str()), (404, Some("inexistent_resource_server")));
    let mgmt = json!({"client_id": m2m.client_id, "audience": app.sdk_management_audience(), "scope": ["read:users", "bogus:scope"]});
    let (s, body) = call(&app, Method::POST, "/client-grants", &t, Some(mgmt)).await;
    assert_eq!((s, body["errorCode"].as_str()), (400, Some("invalid_body")));
    assert!(body["message"].as_str().unwrap().contains("bogus:scope"), "{body}");
    let mgmt = json!({"client_id": m2m.client_id, "audience": app.sdk_management_audience(), "scope": ["read:users"]});
    let (s, g2) = call(&app, Method::POST, "/client-grants", &t, Some(mgmt)).await;
    assert_eq!(s, 201, "{g2}");

    let (_, all) = call(&app, Method::GET, "/client-grants", &t, None).await;
    assert_eq!(all.as_array().map(Vec::len), Some(2), "a bare array");
    let (_, env) = call(&app, Method::GET, "/client-grants?include_totals=true&audience=https%3A%2F%2Fapi.example", &t, None).await;
    assert_eq!((env["total"].as_u64(), env["client_grants"][0]["id"].as_str()), (Some(1), g["id"].as_str()));
    let sdk = app.sdk_management_audience().replace(':', "%3A").replace('/', "%2F");
    let (_, env) = call(&app, Method::GET, &format!("/client-grants?include_totals=true&audience={sdk}"), &t, None).await;
    assert_eq!(env["client_grants"][0]["id"], g2["id"], "either spelling of the Management API filters");
    let (_, first) =
        call(&app, Method::GET, &format!("/client-grants?include_totals=true&take=1&client_id={}", m2m.client_id), &t, None).await;
    assert_eq!(first["client_grants"].as_array().map(Vec::len), Some(1));
    let next = first["next"].as_str().expect("a cursor");
    let (_, second) = call(&app, Method::GET, &format!("/client-grants?take=1&from={next}"), &t, None).await;
    assert_eq!(second["client_grants"].as_array().map(Vec::len), Some(1));
    assert_ne!(second["client_grants"][0]["id"], first["client_grants"][0]["id"]);

    let id = g["id"].as_str().unwrap();
    let (s, up) = call(&app, Method::PATCH, &format!("/client-grants/{id}"), &t, Some(json!({"scope": ["read:a", "write:a"]}))).await;
    assert_eq!((s, up["scope"].clone()), (200, json!(["read:a", "write:a"])));
    let (s, body) = call(&app, Method::PATCH, &format!("/client-grants/{id}"), &t, Some(json!({"audience": "x"}))).await;
    assert_eq!((s, body["errorCode"].as_str()), (400, Some("invalid_body")));
    let (s, _) = call(&app, Method::DELETE, &format!("/client-grants/{id}"), &t, None).await;
    assert_eq!(s, 204);
    let (s, body) = call(&app, Method::GET, &format!("/client-grants/{id}"), &t, None).await;
    assert_eq!((s, body["errorCode"].as_str()), (404, Some("inexistent_client_grant")));
}

#[tokio::test]
async fn a_real_client_credentials_token_drives_the_management_api_within_its_scopes() {
    let app = TestApp::spawn().await;
    let token = app.m2m_management_token(&["read:clients", "create:client_grants"]).await;
    let (s, list) = call(&app, Method::GET, "/clients", &token, None).await;
    assert_eq!(s, 200, "{list}");
    let (s, body) = call(&app, Method::GET, "/resource-servers", &token, None).await;
    assert_eq!((s, body["errorCode"].as_str()), (403, Some("insufficient_scope")));
    assert_eq!(body["message"], "Insufficient scope, expected any of: read:resource_servers");
}

#[tokio::test]
async fn a_token_for_a_registered_api_is_refused_by_the_management_api_end_to_end() {
    let app = TestApp::spawn().await;
    let api = ratchet_server::service::manage::apis::NewApi {
        identifier: "https://api.example".into(),
        scopes: vec![ratchet_core::client::ApiScope::parse("read:clients").unwrap()],
        ..Default::default()
    };
    app.state.manage.apis.create(api).await.unwrap();
    let (id, secret) = app.m2m_client("https://api.example", &["read:clients"]).await;
    let (s, body) = app.client_credentials(&id, &secret, "https://api.example", None).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = call(&app, Method::GET, "/clients", body["access_token"].as_str().unwrap(), None).await;
    assert_eq!((s, body["message"].as_str()), (401, Some("Invalid token")), "same scope name, wrong audience");
}
