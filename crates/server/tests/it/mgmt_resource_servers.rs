//! `/api/v2/resource-servers`: APIs with their permissions; the Management API listed as an
//! immutable system API; `{id}` by id or URL-encoded identifier; PATCH answers 201 as Auth0.

use reqwest::Method;
use serde_json::json;

use crate::mgmt_clients::call;
use crate::support::*;

const ALL: &[&str] = &["read:resource_servers", "create:resource_servers", "update:resource_servers", "delete:resource_servers"];

#[tokio::test]
async fn resource_servers_are_created_read_listed_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let t = app.management_token("admin", ALL);
    let body = json!({"identifier": "https://api.example", "name": "Example", "scopes": [{"value": "read:a", "description": "Read A"}], "token_lifetime": 600, "allow_offline_access": true, "signing_alg": "RS256"});
    let (s, rs) = call(&app, Method::POST, "/resource-servers", &t, Some(body.clone())).await;
    assert_eq!(s, 201, "{rs}");
    assert_eq!(
        (rs["is_system"].as_bool(), rs["signing_alg"].as_str(), rs["token_lifetime"].as_u64()),
        (Some(false), Some("RS256"), Some(600))
    );
    assert_eq!(rs["scopes"], json!([{"value": "read:a", "description": "Read A"}]));
    let (s, dup) = call(&app, Method::POST, "/resource-servers", &t, Some(body)).await;
    assert_eq!((s, dup["statusCode"].as_u64()), (409, Some(409)));

    let id = rs["id"].as_str().unwrap();
    let (s, by_id) = call(&app, Method::GET, &format!("/resource-servers/{id}"), &t, None).await;
    assert_eq!((s, &by_id), (200, &rs));
    let (s, by_identifier) = call(&app, Method::GET, "/resource-servers/https%3A%2F%2Fapi.example", &t, None).await;
    assert_eq!((s, &by_identifier), (200, &rs), "by URL-encoded identifier");

    let (s, list) = call(&app, Method::GET, "/resource-servers", &t, None).await;
    assert_eq!(s, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0]["identifier"].as_str(), list[0]["is_system"].as_bool()),
        (Some(format!("{}api/v2/", app.issuer()).as_str()), Some(true))
    );
    assert!(list[0]["scopes"].as_array().unwrap().iter().any(|s| s["value"] == "read:users"), "the Management API's permissions");
    let (_, env) = call(&app, Method::GET, "/resource-servers?include_totals=true&per_page=1&page=1", &t, None).await;
    assert_eq!((env["total"].as_u64(), env["start"].as_u64(), env["limit"].as_u64()), (Some(2), Some(1), Some(1)));
    assert_eq!(env["resource_servers"][0]["id"], id);

    let (s, up) = call(
        &app,
        Method::PATCH,
        &format!("/resource-servers/{id}"),
        &t,
        Some(json!({"scopes": [{"value": "write:a"}], "token_lifetime": 60})),
    )
    .await;
    assert_eq!(s, 201, "PATCH answers 201 as Auth0: {up}");
    assert_eq!(up["scopes"], json!([{"value": "write:a", "description": ""}]));
    let (s, body) =
        call(&app, Method::PATCH, &format!("/resource-servers/{id}"), &t, Some(json!({"identifier": "https://other.example"}))).await;
    assert_eq!((s, body["errorCode"].as_str()), (400, Some("invalid_body")), "the identifier is immutable: {body}");
    let (s, body) = call(&app, Method::PATCH, &format!("/resource-servers/{id}"), &t, Some(json!({"signing_alg": "HS256"}))).await;
    assert_eq!((s, body["errorCode"].as_str()), (400, Some("invalid_body")), "HS256 is refused: {body}");

    let (s, _) = call(&app, Method::DELETE, &format!("/resource-servers/{id}"), &t, None).await;
    assert_eq!(s, 204);
    let (s, body) = call(&app, Method::GET, &format!("/resource-servers/{id}"), &t, None).await;
    assert_eq!((s, body["errorCode"].as_str()), (404, Some("inexistent_resource_server")));
}

#[tokio::test]
async fn the_management_api_is_a_system_api_that_cannot_be_changed() {
    let app = TestApp::spawn().await;
    let t = app.management_token("admin", ALL);
    let encoded = format!("{}api/v2/", app.issuer()).replace(':', "%3A").replace('/', "%2F");
    let (s, rs) = call(&app, Method::GET, &format!("/resource-servers/{encoded}"), &t, None).await;
    assert_eq!((s, rs["is_system"].as_bool()), (200, Some(true)));
    let (s, body) = call(&app, Method::PATCH, &format!("/resource-servers/{encoded}"), &t, Some(json!({"name": "Mine"}))).await;
    assert_eq!((s, body["errorCode"].as_str()), (403, Some("operation_not_supported")), "{body}");
    let (s, body) = call(&app, Method::DELETE, &format!("/resource-servers/{}", rs["id"].as_str().unwrap()), &t, None).await;
    assert_eq!((s, body["errorCode"].as_str()), (403, Some("operation_not_supported")));
    let sdk = app.sdk_management_audience();
    let (s, body) = call(&app, Method::POST, "/resource-servers", &t, Some(json!({"identifier": sdk}))).await;
    assert_eq!(s, 409, "{body}");
}

#[tokio::test]
async fn resource_server_bodies_are_validated() {
    let app = TestApp::spawn().await;
    let t = app.management_token("admin", ALL);
    for (bad, field) in [
        (json!({"identifier": "https://a.example", "enforce_policies": true}), "enforce_policies"),
        (json!({"identifier": "https://a.example", "scopes": [{"value": "has space"}]}), "scope"),
        (json!({"identifier": "https://a.example", "scopes": [{"value": "r"}, {"value": "r"}]}), "twice"),
        (json!({"identifier": "https://a.example", "token_lifetime": 0}), "lifetime"),
        (json!({"name": "no identifier"}), "identifier"),
    ] {
        let (s, body) = call(&app, Method::POST, "/resource-servers", &t, Some(bad.clone())).await;
        assert_eq!((s, body["errorCode"].as_str()), (400, Some("invalid_body")), "{bad}: {body}");
        assert!(body["message"].as_str().unwrap().contains(field), "{bad}: {body}");
    }
    let (s, _) = call(&app, Method::GET, "/resource-servers", &app.management_token("reader", &["read:clients"]), None).await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn resource_servers_are_filtered_by_identifiers() {
    let app = TestApp::spawn().await;
    let t = app.management_token("admin", ALL);
    for i in 0..3 {
        let (s, _) =
            call(&app, Method::POST, "/resource-servers", &t, Some(json!({"identifier": format!("https://api{i}.example")}))).await;
        assert_eq!(s, 201);
    }
    let (s, found) =
        call(&app, Method::GET, "/resource-servers?identifiers=https%3A%2F%2Fapi2.example&identifiers=https%3A%2F%2Fnone.example&identifiers=https%3A%2F%2Fapi0.example", &t, None).await;
    assert_eq!(s, 200, "{found}");
    let identifiers: Vec<&str> = found.as_array().unwrap().iter().map(|r| r["identifier"].as_str().unwrap()).collect();
    assert_eq!(identifiers, ["https://api2.example", "https://api0.example"], "only those named, unknown ones left out");
    let (_, env) = call(&app, Method::GET, "/resource-servers?identifiers=https%3A%2F%2Fapi1.example&include_totals=true", &t, None).await;
    assert_eq!((env["total"].as_u64(), env["resource_servers"][0]["identifier"].as_str()), (Some(1), Some("https://api1.example")));
    let eleven: String = (0..11).map(|i| format!("identifiers=https%3A%2F%2Fx{i}.example&")).collect();
    assert_eq!(call(&app, Method::GET, &format!("/resource-servers?{eleven}"), &t, None).await.0, 400, "at most 10");
}
