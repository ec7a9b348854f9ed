//! Machine-to-machine tokens (`client_credentials`, RFC 6749 §4.4) for the Management API and
//! for registered APIs: every one needs a client grant, whose scopes the token carries.

use ratchet_core::client::{ApiScope, AppType};
use ratchet_server::service::manage::ManageError;
use ratchet_server::service::manage::apis::{MANAGEMENT_API_SCOPES, NewApi};
use ratchet_server::service::manage::client_grants::NewClientGrant;
use serde_json::{Value, json};

use crate::support::*;

const API: &str = "https://api.example";

/// Registers `API` with the permissions `read:a write:a` and `token_lifetime` 600.
async fn api_with_permissions(app: &TestApp) {
    let scopes = ["read:a", "write:a"].iter().map(|v| ApiScope { value: v.to_string(), description: String::new() }).collect();
    let new = NewApi { identifier: API.into(), scopes, token_lifetime: Some(600), ..Default::default() };
    app.state.manage.apis.create(new).await.unwrap();
}

fn no_grant_body(audience: &str) -> Value {
    json!({
        "error": "access_denied",
        "error_description": format!("Client is not authorized to access \"{audience}\". You need to create a \"client-grant\" associated to this API. See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants"),
    })
}

#[tokio::test]
async fn client_credentials_without_a_client_grant_is_access_denied_as_auth0() {
    let app = TestApp::spawn().await;
    api_with_permissions(&app).await;
    let (m2m, secret) = app.client_with(AppType::NonInteractive, |_| {}).await;
    let secret = secret.unwrap();
    for audience in [API.to_string(), app.sdk_management_audience(), format!("{}api/v2/", app.issuer())] {
        let (status, body) = app.client_credentials(&m2m.client_id, &secret, &audience, None).await;
        assert_eq!((status, body), (403, no_grant_body(&audience)), "{audience}");
    }
    let (status, body) = app.client_credentials(&m2m.client_id, &secret, "https://unknown.example", None).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("access_denied")));
}

#[tokio::test]
async fn management_tokens_carry_the_requested_audience_and_the_grants_scopes() {
    let app = TestApp::spawn().await;
    let sdk = app.sdk_management_audience();
    let (id, secret) = app.m2m_client(&sdk, &["read:clients", "read:users"]).await;
    // Both spellings of the Management API's identifier name the API the grant is for.
    for audience in [sdk.clone(), format!("{}api/v2/", app.issuer())] {
        let (status, body) = app.client_credentials(&id, &secret, &audience, None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!((body["token_type"].as_str(), body["expires_in"].as_i64()), (Some("Bearer"), Some(86_400)));
        assert_eq!(body["scope"], "read:clients read:users");
        let token = body["access_token"].as_str().unwrap();
        let header: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token.split('.').next().unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], "RS256");
        assert!(app.state.keys.current().signing.verify(token).is_some(), "signed with the published key");
        let c = claims(token);
        assert_eq!(c["iss"], app.issuer());
        assert_eq!(c["sub"], format!("{id}@clients"));
        assert_eq!(c["aud"], audience.as_str(), "the audience as requested, a single string");
        assert_eq!(c["azp"], id.as_str());
        assert_eq!(c["gty"], "client-credentials");
        assert_eq!(c["scope"], "read:clients read:users");
        assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 86_400);
    }
}

#[tokio::test]
async fn a_requested_scope_narrows_the_granted_scopes() {
    let app = TestApp::spawn().await;
    api_with_permissions(&app).await;
    let (id, secret) = app.m2m_client(API, &["read:a", "write:a"]).await;
    let (status, body) = app.client_credentials(&id, &secret, API, Some("read:a delete:everything")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "read:a", "scopes outside the grant are dropped");
    assert_eq!(claims(body["access_token"].as_str().unwrap())["scope"], "read:a");
    let (_, body) = app.client_credentials(&id, &secret, API, None).await;
    assert_eq!(body["scope"], "read:a write:a");
    assert_eq!(body["expires_in"], 600, "the API's token_lifetime");
}

#[tokio::test]
async fn json_token_requests_with_null_fields_are_accepted_as_auth0_python_sends_them() {
    let app = TestApp::spawn().await;
    let sdk = app.sdk_management_audience();
    let (id, secret) = app.m2m_client(&sdk, &["read:users"]).await;
    let body = json!({"client_id": id, "audience": sdk, "grant_type": "client_credentials", "organization": null, "client_secret": secret});
    let r = reqwest::Client::new().post(app.url("/oauth/token")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "read:users");
}

#[tokio::test]
async fn a_grant_for_one_api_gives_nothing_for_another() {
    let app = TestApp::spawn().await;
    api_with_permissions(&app).await;
    let (id, secret) = app.m2m_client(API, &["read:a"]).await;
    let sdk = app.sdk_management_audience();
    let (status, body) = app.client_credentials(&id, &secret, &sdk, None).await;
    assert_eq!((status, body), (403, no_grant_body(&sdk)), "a registered API's grant is no Management API grant");
}

#[tokio::test]
async fn a_management_token_is_useless_at_userinfo() {
    let app = TestApp::spawn().await;
    let token = app.m2m_management_token(&["read:users"]).await;
    let r = reqwest::Client::new().get(app.url("/userinfo")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn deleting_the_grant_or_the_client_ends_client_credentials() {
    let app = TestApp::spawn().await;
    api_with_permissions(&app).await;
    let (id, secret) = app.m2m_client(API, &["read:a"]).await;
    let filter = ratchet_store::ClientGrantFilter { client_id: Some(id.clone()), audience: None };
    let page = ratchet_server::service::manage::Page { page: 0, per_page: 10 };
    let grant = app.state.manage.client_grants.list(filter, page).await.unwrap().items.remove(0);
    app.state.manage.client_grants.delete(&grant.id).await.unwrap();
    let (status, body) = app.client_credentials(&id, &secret, API, None).await;
    assert_eq!((status, body), (403, no_grant_body(API)));

    let (id, secret) = app.m2m_client(API, &["read:a"]).await;
    app.state.manage.clients.delete(&id).await.unwrap();
    let (status, body) = app.client_credentials(&id, &secret, API, None).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
}

#[tokio::test]
async fn client_grant_scopes_must_be_the_apis_permissions() {
    let app = TestApp::spawn().await;
    api_with_permissions(&app).await;
    let (m2m, _) = app.client_with(AppType::NonInteractive, |_| {}).await;
    let grants = &app.state.manage.client_grants;
    let new = |audience: &str, scope: &[&str]| NewClientGrant {
        client_id: m2m.client_id.clone(),
        audience: audience.to_string(),
        scope: scope.iter().map(|s| s.to_string()).collect(),
    };
    match grants.create(new(API, &["read:a", "admin:all"])).await {
        Err(ManageError::Invalid(m)) => assert!(m.contains("admin:all") && m.contains("subset"), "{m}"),
        other => panic!("expected 400 naming the scope, got {other:?}"),
    }
    assert!(matches!(grants.create(new("https://nope.example", &[])).await, Err(ManageError::NotFound(_))), "unknown API: 404");
    let mut ghost = new(API, &[]);
    ghost.client_id = "ghost".into();
    assert!(matches!(grants.create(ghost).await, Err(ManageError::NotFound(_))), "unknown client: 404");
    let g = grants.create(new(API, &["read:a", "read:a"])).await.unwrap();
    assert_eq!(g.scope, ["read:a"], "deduplicated");
    assert!(matches!(grants.create(new(API, &[])).await, Err(ManageError::Conflict(_))), "one grant per client and API: 409");
    match grants.update(&g.id, vec!["write:a".into(), "nope".into()]).await {
        Err(ManageError::Invalid(m)) => assert!(m.contains("nope"), "{m}"),
        other => panic!("expected 400, got {other:?}"),
    }
    assert_eq!(grants.update(&g.id, vec!["write:a".into()]).await.unwrap().scope, ["write:a"]);

    // The Management API's permissions are Auth0's list; both spellings are one API.
    let all: Vec<&str> = MANAGEMENT_API_SCOPES.to_vec();
    let m = grants.create(new(&app.sdk_management_audience(), &all)).await.unwrap();
    assert_eq!(m.audience, format!("{}api/v2/", app.issuer()), "stored under the canonical identifier");
    assert!(matches!(grants.create(new(&format!("{}api/v2/", app.issuer()), &[])).await, Err(ManageError::Conflict(_))));
    assert!(matches!(
        grants.create(new(&app.sdk_management_audience(), &["read:everything"])).await,
        Err(ManageError::Conflict(_) | ManageError::Invalid(_))
    ));
}
