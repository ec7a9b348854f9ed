//! `/api/v2/clients`: Auth0's shapes, list forms, status codes and error bodies; secrets only
//! when generated and only to key scopes; deleting a client revokes its refresh tokens.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

/// Calls `/api/v2{path}` with `token` and an optional JSON body; returns status and JSON body.
pub async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, app.url(&format!("/api/v2{path}"))).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

const ALL: &[&str] = &["read:clients", "create:clients", "update:clients", "delete:clients", "read:client_keys", "update:client_keys"];

#[tokio::test]
async fn clients_are_created_read_listed_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let t = app.management_token("admin", ALL);
    let (s, c) = call(&app, Method::POST, "/clients", &t, Some(json!({"name": "Web", "app_type": "spa", "callbacks": [CALLBACK]}))).await;
    assert_eq!(s, 201, "{c}");
    let id = c["client_id"].as_str().unwrap().to_string();
    assert_eq!((c["app_type"].as_str(), c["token_endpoint_auth_method"].as_str()), (Some("spa"), Some("none")));
    assert_eq!(c["refresh_token"]["rotation_type"], "rotating");
    assert_eq!(c["jwt_configuration"]["lifetime_in_seconds"], 36000);
    assert!(c.get("client_secret").is_none(), "a public client has no secret");

    let (s, got) = call(&app, Method::GET, &format!("/clients/{id}"), &t, None).await;
    assert_eq!((s, &got), (200, &c));

    let (s, list) = call(&app, Method::GET, "/clients", &t, None).await;
    assert_eq!(s, 200);
    // Two: this one and the admin console's own `ratchet-admin`, which sorts after a hex id.
    assert_eq!(list.as_array().map(Vec::len), Some(2), "without include_totals: a bare array");
    let (s, env) = call(&app, Method::GET, "/clients?page=0&per_page=50&include_totals=true", &t, None).await;
    assert_eq!(s, 200);
    assert_eq!((env["start"].as_u64(), env["limit"].as_u64(), env["total"].as_u64()), (Some(0), Some(50), Some(2)));
    assert_eq!(env["clients"][0]["client_id"], id.as_str());
    assert_eq!(env["clients"][1]["client_id"], "ratchet-admin");
    let (_, chunk) = call(&app, Method::GET, "/clients?take=1", &t, None).await;
    assert_eq!(chunk["clients"].as_array().map(Vec::len), Some(1));

    let patch = json!({"name": "Renamed", "refresh_token": {"rotation_type": "rotating", "expiration_type": "expiring", "leeway": 5, "token_lifetime": 86400, "idle_token_lifetime": 3600}});
    let (s, u) = call(&app, Method::PATCH, &format!("/clients/{id}"), &t, Some(patch)).await;
    assert_eq!(s, 200, "{u}");
    assert_eq!((u["name"].as_str(), u["refresh_token"]["leeway"].as_u64()), (Some("Renamed"), Some(5)));
    assert_eq!(u["refresh_token"]["idle_token_lifetime"], 3600);

    let (s, body) = call(&app, Method::DELETE, &format!("/clients/{id}"), &t, None).await;
    assert_eq!((s, body), (204, Value::Null));
    let (s, body) = call(&app, Method::GET, &format!("/clients/{id}"), &t, None).await;
    assert_eq!(s, 404);
    assert_eq!(
        body,
        json!({"statusCode": 404, "error": "Not Found", "message": "The client does not exist.", "errorCode": "inexistent_client"})
    );
}

#[tokio::test]
async fn refresh_token_settings_are_validated_as_the_cli_validates_them() {
    let app = TestApp::spawn().await;
    let t = app.management_token("admin", ALL);
    let (_, c) = call(&app, Method::POST, "/clients", &t, Some(json!({"name": "Web"}))).await;
    let path = format!("/clients/{}", c["client_id"].as_str().unwrap());
    for (bad, names) in [
        (json!({"rotation_type": "rotating", "expiration_type": "non-expiring"}), "expiring"),
        (
            json!({"rotation_type": "rotating", "expiration_type": "expiring", "token_lifetime": 100, "idle_token_lifetime": 200}),
            "idle_token_lifetime",
        ),
        (json!({"rotation_type": "rotating", "expiration_type": "expiring", "token_lifetime": 0}), "token_lifetime"),
        (json!({"rotation_type": "sometimes", "expiration_type": "expiring"}), "rotation_type"),
        (json!({"expiration_type": "expiring"}), "rotation_type"),
        (
            json!({"rotation_type": "rotating", "expiration_type": "expiring", "policies": [{"audience": "has space", "scope": []}]}),
            "audience",
        ),
        (json!({"rotation_type": "rotating", "expiration_type": "expiring", "mystery": 1}), "mystery"),
    ] {
        let (s, body) = call(&app, Method::PATCH, &path, &t, Some(json!({"refresh_token": bad}))).await;
        assert_eq!((s, body["errorCode"].as_str()), (400, Some("invalid_body")), "{bad}: {body}");
        assert!(body["message"].as_str().unwrap().contains(names), "{bad}: {body}");
    }
    let (_, unchanged) = call(&app, Method::GET, &path, &t, None).await;
    assert_eq!(unchanged["refresh_token"], c["refresh_token"], "nothing was stored");
}

#[tokio::test]
async fn client_secrets_are_shown_once_and_only_to_key_scopes() {
    let app = TestApp::spawn().await;
    let keys = app.management_token("admin", ALL);
    let (s, m2m) = call(&app, Method::POST, "/clients", &keys, Some(json!({"name": "Backend", "app_type": "non_interactive"}))).await;
    assert_eq!(s, 201);
    let id = m2m["client_id"].as_str().unwrap();
    let secret = m2m["client_secret"].as_str().expect("generated and shown at creation").to_string();
    assert!(secret.len() >= 43 && secret.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "URL-safe");
    assert_eq!(m2m["grant_types"], json!(["client_credentials"]));
    let (_, read) = call(&app, Method::GET, &format!("/clients/{id}"), &keys, None).await;
    assert!(read.get("client_secret").is_none(), "only its hash is stored: {read}");
    let stored = app.state.store.client(id).await.unwrap().unwrap();
    assert_eq!(stored.secret_hash.as_deref(), Some(ratchet_core::secret::hash(&secret).as_str()));

    let no_keys = app.management_token("creator", &["create:clients"]);
    let (_, other) = call(&app, Method::POST, "/clients", &no_keys, Some(json!({"name": "B2", "app_type": "non_interactive"}))).await;
    assert!(other.get("client_secret").is_none(), "no key scope, no secret: {other}");

    let (s, body) =
        call(&app, Method::POST, &format!("/clients/{id}/rotate-secret"), &app.management_token("x", &["update:clients"]), None).await;
    assert_eq!((s, body["errorCode"].as_str()), (403, Some("insufficient_scope")), "rotate-secret needs update:client_keys");
    assert_eq!(body["message"], "Insufficient scope, expected any of: update:client_keys");
    let (s, rotated) = call(&app, Method::POST, &format!("/clients/{id}/rotate-secret"), &keys, None).await;
    assert_eq!(s, 200, "{rotated}");
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    app.api("https://api.example", false).await;
    let (s, _) = app.client_credentials(id, &secret, "https://api.example", None).await;
    assert_eq!(s, 401, "the old secret stops working at once");
    let (s, body) = app.client_credentials(id, new_secret, "https://api.example", None).await;
    assert_eq!((s, body["error"].as_str()), (403, Some("access_denied")), "the new one authenticates (no grant yet): {body}");
}

#[tokio::test]
async fn deleting_a_client_revokes_its_refresh_tokens() {
    let app = TestApp::spawn().await;
    let t = app.management_token("admin", ALL);
    let spa = app.spa().await;
    app.user("alice@example.com").await;
    let rt = app.refresh_token(&spa, "alice@example.com").await;
    let (s, _) = call(&app, Method::DELETE, &format!("/clients/{}", spa.client_id), &t, None).await;
    assert_eq!(s, 204);
    assert!(app.family_of(&rt).await.revoked_at.is_some(), "the family is revoked");
}

#[tokio::test]
async fn client_bodies_with_unknown_fields_wrong_types_or_too_large_are_400_or_413() {
    let app = TestApp::spawn().await;
    let t = app.management_token("admin", ALL);
    let (s, body) = call(&app, Method::POST, "/clients", &t, Some(json!({"name": "X", "phone_verified": true}))).await;
    assert_eq!((s, body["errorCode"].as_str()), (400, Some("invalid_body")));
    assert!(body["message"].as_str().unwrap().contains("phone_verified"), "{body}");
    let (s, body) = call(&app, Method::POST, "/clients", &t, Some(json!({"name": 5}))).await;
    assert_eq!(s, 400);
    assert!(body["message"].as_str().unwrap().contains("name"), "{body}");
    let (s, body) = call(&app, Method::POST, "/clients", &t, Some(json!({"name": "X", "callbacks": ["javascript:alert(1)"]}))).await;
    assert_eq!((s, body["errorCode"].as_str()), (400, Some("invalid_body")), "{body}");
    let (s, body) =
        call(&app, Method::POST, "/clients", &t, Some(json!({"name": "X", "app_type": "spa", "grant_types": ["client_credentials"]})))
            .await;
    assert_eq!((s, body["errorCode"].as_str()), (400, Some("invalid_body")), "public clients cannot use client_credentials: {body}");
    let huge = json!({"name": "X", "callbacks": vec!["https://a.example/cb"; 60_000]});
    let (s, _) = call(&app, Method::POST, "/clients", &t, Some(huge)).await;
    assert_eq!(s, 413);
    let (s, body) = call(&app, Method::PATCH, "/clients/ghost", &t, Some(json!({"name": "X"}))).await;
    assert_eq!((s, body["errorCode"].as_str()), (404, Some("inexistent_client")));
}

#[tokio::test]
async fn client_ids_are_percent_decoded() {
    let app = TestApp::spawn().await;
    let t = app.management_token("admin", ALL);
    let (c, _) = app.client_with(ratchet_core::client::AppType::Spa, |c| c.client_id = "app|one".into()).await;
    let (s, got) = call(&app, Method::GET, "/clients/app%7Cone", &t, None).await;
    assert_eq!((s, got["client_id"].as_str()), (200, Some(c.client_id.as_str())));
}
