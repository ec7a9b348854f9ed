//! `/api/v2` users: create, read (percent-encoded ids), list (both shapes, exact `q` terms),
//! update (metadata merge, block, password), delete (cascade), `users-by-email`; Auth0's bodies.

use serde_json::{Value, json};

use crate::support::*;

const ALL: &[&str] = &["read:users", "create:users", "update:users", "delete:users"];

async fn create(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    app.mgmt("POST", "/users", token, Some(body)).await
}

fn new_user(email: &str) -> Value {
    json!({"connection": "Username-Password-Authentication", "email": email, "password": PASSWORD})
}

#[tokio::test]
async fn a_user_is_created_in_auth0s_shape_and_a_taken_email_is_409() {
    let app = TestApp::spawn().await;
    let token = app.management_token("m2m", ALL);
    let mut body = new_user("Carol@Example.com");
    body["name"] = json!("Carol");
    body["email_verified"] = json!(true);
    body["user_metadata"] = json!({"theme": "dark"});
    body["app_metadata"] = json!({"plan": "gold"});
    let (s, u) = create(&app, &token, body).await;
    assert_eq!(s, 201, "{u}");
    let id = u["user_id"].as_str().unwrap();
    assert!(id.starts_with("ratchet|"));
    assert_eq!(u["email"], "carol@example.com");
    assert_eq!((u["name"].as_str(), u["email_verified"].as_bool(), u["blocked"].as_bool()), (Some("Carol"), Some(true), Some(false)));
    assert_eq!(u["user_metadata"], json!({"theme": "dark"}));
    assert_eq!(u["app_metadata"], json!({"plan": "gold"}));
    assert_eq!(
        u["identities"],
        json!([{"connection": "Username-Password-Authentication", "user_id": id.trim_start_matches("ratchet|"), "provider": "auth0", "isSocial": false}])
    );
    assert!(u.get("password").is_none() && !u.to_string().contains("argon2"), "no password or hash: {u}");

    let (s, body) = create(&app, &token, new_user("carol@example.com")).await;
    assert_eq!(s, 409);
    assert_eq!(
        body,
        json!({"statusCode": 409, "error": "Conflict", "message": "The user already exists.", "errorCode": "auth0_idp_error"})
    );

    let mut wrong = new_user("dan@example.com");
    wrong["connection"] = json!("google-oauth2");
    let (s, body) = create(&app, &token, wrong).await;
    assert_eq!((s, body["errorCode"].as_str()), (400, Some("invalid_body")), "{body}");
    let mut unknown = new_user("dan@example.com");
    unknown["phone_verified"] = json!(true);
    let (s, body) = create(&app, &token, unknown).await;
    assert_eq!(s, 400);
    assert!(body["message"].as_str().unwrap().contains("phone_verified"), "{body}");
    let mut short = new_user("dan@example.com");
    short["password"] = json!("short");
    let (s, body) = create(&app, &token, short).await;
    assert!(s == 400 && body["message"].as_str().unwrap().contains("password"), "{body}");
    let (s, _) = create(&app, &token, json!({"connection": "Username-Password-Authentication", "email": 5, "password": PASSWORD})).await;
    assert_eq!(s, 400, "wrong types are 400");
}

#[tokio::test]
async fn a_user_is_read_by_percent_encoded_id_and_an_unknown_one_is_inexistent_user() {
    let app = TestApp::spawn().await;
    let u = app.user("alice@example.com").await;
    let token = app.management_token("m2m", &["read:users"]);
    let (s, got) = app.mgmt("GET", &format!("/users/{}", enc(&u.user_id)), &token, None).await;
    assert_eq!((s, got["user_id"].as_str()), (200, Some(u.user_id.as_str())));
    let (s, body) = app.mgmt("GET", "/users/ratchet%7Cnobody", &token, None).await;
    assert_eq!(s, 404);
    assert_eq!(
        body,
        json!({"statusCode": 404, "error": "Not Found", "message": "The user does not exist.", "errorCode": "inexistent_user"})
    );
    let (s, body) = app.mgmt("GET", "/users-by-email?email=ALICE@example.com", &token, None).await;
    assert_eq!((s, body.as_array().map(Vec::len)), (200, Some(1)));
    assert_eq!(app.mgmt("GET", "/users-by-email?email=none@example.com", &token, None).await.1, json!([]));
    assert_eq!(app.mgmt("GET", "/users-by-email", &token, None).await.0, 400);
}

#[tokio::test]
async fn users_are_listed_as_an_array_or_with_totals_and_searched_by_exact_terms() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        app.user(&format!("user{i}@example.com")).await;
    }
    let token = app.management_token("m2m", &["read:users"]);
    let (s, bare) = app.mgmt("GET", "/users?per_page=2&page=1", &token, None).await;
    assert_eq!((s, bare.as_array().map(Vec::len)), (200, Some(2)), "{bare}");
    let (_, env) = app.mgmt("GET", "/users?per_page=2&page=2&include_totals=true", &token, None).await;
    assert_eq!(
        (env["start"].as_u64(), env["limit"].as_u64(), env["length"].as_u64(), env["total"].as_u64()),
        (Some(4), Some(2), Some(1), Some(5))
    );
    assert_eq!(env["users"].as_array().unwrap().len(), 1);

    for q in ["email:\"user3@example.com\"", "email:user3@example.com"] {
        let (s, found) = app.mgmt("GET", &format!("/users?q={}", urlencode(q)), &token, None).await;
        assert_eq!(s, 200, "{q}: {found}");
        assert_eq!(found.as_array().unwrap().len(), 1, "{q}");
        assert_eq!(found[0]["email"], "user3@example.com");
        let id = found[0]["user_id"].as_str().unwrap().to_string();
        let (_, by_id) = app.mgmt("GET", &format!("/users?q={}", urlencode(&format!("user_id:\"{id}\""))), &token, None).await;
        assert_eq!(by_id.as_array().unwrap().len(), 1);
    }
    let (s, body) = app.mgmt("GET", &format!("/users?q={}", urlencode("name:bob")), &token, None).await;
    assert_eq!(s, 400);
    assert!(body["message"].as_str().unwrap().contains("email:"), "names what is supported: {body}");
    assert_eq!(app.mgmt("GET", "/users?per_page=101", &token, None).await.0, 400);
}

#[tokio::test]
async fn users_are_walked_by_checkpoint_each_once_in_id_order() {
    let app = TestApp::spawn().await;
    for i in 0..7 {
        app.user(&format!("walk{i}@example.com")).await;
    }
    let token = app.management_token("m2m", &["read:users"]);
    let (mut seen, mut from) = (Vec::new(), None::<String>);
    loop {
        let path = match &from {
            Some(f) => format!("/users?take=3&from={}", urlencode(f)),
            None => "/users?take=3".to_string(),
        };
        let (s, chunk) = app.mgmt("GET", &path, &token, None).await;
        assert_eq!(s, 200, "{chunk}");
        seen.extend(chunk["users"].as_array().unwrap().iter().map(|u| u["user_id"].as_str().unwrap().to_string()));
        match chunk["next"].as_str() {
            Some(next) => from = Some(next.to_string()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!((seen.len(), &seen), (7, &sorted), "every user once, in id order");
    assert_eq!(app.mgmt("GET", "/users?take=0", &token, None).await.0, 400);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn updating_a_user_replaces_root_fields_merges_metadata_and_blocking_revokes_refresh_tokens() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let token = app.management_token("m2m", ALL);
    let mut body = new_user("erin@example.com");
    body["user_metadata"] = json!({"a": 1, "b": 2});
    let (_, u) = create(&app, &token, body).await;
    let path = format!("/users/{}", enc(u["user_id"].as_str().unwrap()));
    let rt = app.refresh_token(&c, "erin@example.com").await;

    let (s, got) = app.mgmt("PATCH", &path, &token, Some(json!({"name": "Erin", "user_metadata": {"a": null, "c": {"x": 1}}}))).await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["name"], "Erin");
    assert_eq!(got["user_metadata"], json!({"b": 2, "c": {"x": 1}}), "shallow merge, null deletes");
    assert_eq!(got["logins_count"], 1, "the sign-in was counted");
    assert!(got["last_login"].as_str().is_some() && got["last_ip"] == "127.0.0.1", "{got}");

    let (s, got) = app.mgmt("PATCH", &path, &token, Some(json!({"blocked": true}))).await;
    assert_eq!((s, got["blocked"].as_bool()), (200, Some(true)));
    let (st, b) = app.refresh(&c, &rt).await;
    assert_invalid_refresh_token(st, &b, "blocking revokes refresh tokens");

    let (s, _) = app.mgmt("PATCH", &path, &token, Some(json!({"blocked": false, "password": "a brand new password"}))).await;
    assert_eq!(s, 200);
    let stored = app.state.store.user(u["user_id"].as_str().unwrap()).await.unwrap().unwrap();
    assert!(ratchet_core::password::verify_password("a brand new password", &stored.password_hash), "re-hashed");

    app.user("taken@example.com").await;
    let (s, body) = app.mgmt("PATCH", &path, &token, Some(json!({"email": "taken@example.com"}))).await;
    assert_eq!((s, body["errorCode"].as_str()), (409, Some("auth0_idp_error")));
    assert_eq!(app.mgmt("PATCH", "/users/ratchet%7Cnobody", &token, Some(json!({"name": "x"}))).await.0, 404);
    let (s, body) = app.mgmt("PATCH", &path, &token, Some(json!({"nickname": "e"}))).await;
    assert!(s == 400 && body["message"].as_str().unwrap().contains("nickname"), "{body}");
}

#[tokio::test]
async fn deleting_a_user_cascades_to_sessions_and_refresh_tokens() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let u = app.user("fay@example.com").await;
    let rt = app.refresh_token(&c, "fay@example.com").await;
    let token = app.management_token("m2m", ALL);
    let path = format!("/users/{}", enc(&u.user_id));
    assert_eq!(app.mgmt("DELETE", &path, &token, None).await.0, 204);
    let (st, b) = app.refresh(&c, &rt).await;
    assert_invalid_refresh_token(st, &b, "deleted user");
    assert_eq!(app.mgmt("GET", &path, &token, None).await.0, 404);
    assert_eq!(app.mgmt("DELETE", &path, &token, None).await.0, 404);
    assert!(app.state.store.sessions_of(&u.user_id, None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_oversized_user_body_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.management_token("m2m", ALL);
    let mut body = new_user("big@example.com");
    body["user_metadata"] = json!({"blob": "x".repeat(1024 * 1024 + 1)});
    let (s, _) = create(&app, &token, body).await;
    assert_eq!(s, 413);
}

#[tokio::test]
async fn user_routes_need_their_scopes() {
    let app = TestApp::spawn().await;
    let token = app.management_token("m2m", &["read:users"]);
    let (s, body) = create(&app, &token, new_user("g@example.com")).await;
    assert_eq!((s, body["errorCode"].as_str()), (403, Some("insufficient_scope")));
    assert_eq!(app.mgmt("DELETE", "/users/ratchet%7Cx", &token, None).await.0, 403);
}
