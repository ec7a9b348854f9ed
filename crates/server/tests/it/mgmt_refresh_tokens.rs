//! `/api/v2` refresh tokens: a user's list (`{tokens, next}`), one by id, revocation by id, by
//! user [+ client], and `POST /refresh-tokens/revoke`; Auth0's shapes, status codes and errors.

use serde_json::{Value, json};

use crate::support::*;

const ALL: &[&str] = &["read:refresh_tokens", "delete:refresh_tokens", "read:users"];

fn is_iso(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() == 24 && s.ends_with('Z') && s.as_bytes()[10] == b'T')
}

#[tokio::test]
async fn a_users_refresh_tokens_are_listed_in_auth0s_shape_a_chunk_at_a_time() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let alice = app.user("alice@example.com").await;
    let first = app.sign_in_with(&browser(), &c, "alice@example.com").await;
    app.sign_in_with(&browser(), &c, "alice@example.com").await;
    let token = app.management_token("m2m", ALL);

    let path = format!("/users/{}/refresh-tokens", enc(&alice.user_id));
    let (status, page1) = app.mgmt("GET", &format!("{path}?include_totals=true&take=1"), &token, None).await;
    assert_eq!(status, 200, "{page1}");
    assert_eq!(page1["tokens"].as_array().unwrap().len(), 1);
    let next = page1["next"].as_str().expect("a next cursor").to_string();
    let (_, page2) = app.mgmt("GET", &format!("{path}?take=1&from={next}"), &token, None).await;
    assert_eq!(page2["tokens"].as_array().unwrap().len(), 1);
    assert!(page2.get("next").is_none(), "the last chunk has no next: {page2}");
    assert_ne!(page1["tokens"][0]["id"], page2["tokens"][0]["id"]);

    let (_, all) = app.mgmt("GET", &path, &token, None).await;
    let family = app.family_of(first["refresh_token"].as_str().unwrap()).await;
    let rt = all["tokens"].as_array().unwrap().iter().find(|t| t["id"] == family.id.to_string()).expect("listed").clone();
    assert_eq!(rt["user_id"], alice.user_id.as_str());
    assert_eq!(rt["client_id"], c.client_id.as_str());
    assert_eq!(rt["session_id"], claims(first["id_token"].as_str().unwrap())["sid"], "session_id is the sid of its ID tokens");
    assert_eq!(rt["rotating"], true);
    for k in ["created_at", "expires_at", "idle_expires_at"] {
        assert!(is_iso(&rt[k]), "{k}: {}", rt[k]);
    }
    assert_eq!(rt["last_exchanged_at"], Value::Null, "never exchanged yet");
    assert_eq!(rt["resource_servers"][0]["scopes"], "openid profile email offline_access");
    assert_eq!(rt["resource_servers"][0]["audience"], format!("{}userinfo", app.issuer()));
    assert_eq!(rt["device"]["initial_ip"], "127.0.0.1");
    assert!(rt.to_string().find(first["refresh_token"].as_str().unwrap()).is_none(), "no secret is shown");

    // An exchange shows up as the last exchange.
    let (s, _) = app.refresh(&c, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 200);
    let (_, one) = app.mgmt("GET", &format!("/refresh-tokens/{}", family.id), &token, None).await;
    assert!(is_iso(&one["last_exchanged_at"]), "{one}");
    assert_eq!(one["device"]["last_ip"], "127.0.0.1");
}

#[tokio::test]
async fn revoking_a_users_refresh_tokens_makes_their_next_refresh_invalid_grant_and_leaves_other_users_untouched() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let alice = app.user("alice@example.com").await;
    app.user("bob@example.com").await;
    let a1 = app.refresh_token(&c, "alice@example.com").await;
    let a2 = app.refresh_token(&c, "alice@example.com").await;
    let b1 = app.refresh_token(&c, "bob@example.com").await;
    let token = app.management_token("m2m", ALL);

    let (status, body) = app.mgmt("DELETE", &format!("/users/{}/refresh-tokens", enc(&alice.user_id)), &token, None).await;
    assert_eq!((status, body), (202, Value::Null));
    for rt in [&a1, &a2] {
        let (s, b) = app.refresh(&c, rt).await;
        assert_invalid_refresh_token(s, &b, "alice's refresh tokens are revoked");
    }
    let (s, _) = app.refresh(&c, &b1).await;
    assert_eq!(s, 200, "bob's refresh token still works");
    let (_, listed) = app.mgmt("GET", &format!("/users/{}/refresh-tokens", enc(&alice.user_id)), &token, None).await;
    assert_eq!(listed["tokens"], json!([]), "revoked tokens are not listed");
    assert!(!app.events("srrt").await.is_empty(), "the revocation is in the audit trail");
}

#[tokio::test]
async fn post_revoke_by_user_and_client_revokes_only_that_clients_tokens() {
    let app = TestApp::spawn().await;
    let c1 = app.spa().await;
    let c2 = app.spa().await;
    let alice = app.user("alice@example.com").await;
    let at1 = app.refresh_token(&c1, "alice@example.com").await;
    let at2 = app.refresh_token(&c2, "alice@example.com").await;
    let token = app.management_token("m2m", ALL);
    let body = json!({"user_id": alice.user_id, "client_id": c1.client_id});
    assert_eq!(app.mgmt("POST", "/refresh-tokens/revoke", &token, Some(body)).await.0, 202);
    let (s, b) = app.refresh(&c1, &at1).await;
    assert_invalid_refresh_token(s, &b, "the client's token is revoked");
    assert_eq!(app.refresh(&c2, &at2).await.0, 200, "another client's token is not");
}

#[tokio::test]
async fn one_refresh_token_is_read_and_revoked_by_id() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let rt = app.refresh_token(&c, "alice@example.com").await;
    let id = app.family_of(&rt).await.id.to_string();
    let token = app.management_token("m2m", ALL);

    let (s, one) = app.mgmt("GET", &format!("/refresh-tokens/{id}"), &token, None).await;
    assert_eq!((s, one["id"].as_str()), (200, Some(id.as_str())));
    assert_eq!(app.mgmt("DELETE", &format!("/refresh-tokens/{id}"), &token, None).await.0, 202);
    let (s, b) = app.refresh(&c, &rt).await;
    assert_invalid_refresh_token(s, &b, "revoked by id");
    let (s, body) = app.mgmt("GET", &format!("/refresh-tokens/{id}"), &token, None).await;
    assert_eq!(s, 404);
    assert_eq!(
        body,
        json!({"statusCode": 404, "error": "Not Found", "message": "The refresh token does not exist.", "errorCode": "inexistent_refresh_token"})
    );
    assert_eq!(app.mgmt("DELETE", "/refresh-tokens/00000000000000000000000000000000", &token, None).await.0, 404);
    assert_eq!(app.mgmt("GET", "/refresh-tokens/not-an-id", &token, None).await.0, 404);
}

#[tokio::test]
async fn post_revoke_by_ids_and_its_invalid_bodies() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let rt = app.refresh_token(&c, "alice@example.com").await;
    let keep = app.refresh_token(&c, "alice@example.com").await;
    let id = app.family_of(&rt).await.id.to_string();
    let token = app.management_token("m2m", ALL);

    assert_eq!(app.mgmt("POST", "/refresh-tokens/revoke", &token, Some(json!({"ids": [id, "unknown"]}))).await.0, 202);
    assert_invalid_refresh_token(app.refresh(&c, &rt).await.0, &app.refresh(&c, &rt).await.1, "revoked by ids");
    assert_eq!(app.refresh(&c, &keep).await.0, 200);

    let too_many: Vec<String> = (0..101).map(|i| format!("{i:032x}")).collect();
    for bad in
        [json!({"client_id": c.client_id}), json!({}), json!({"ids": []}), json!({"ids": too_many}), json!({"ids": ["x"], "user_id": "u"})]
    {
        let (s, body) = app.mgmt("POST", "/refresh-tokens/revoke", &token, Some(bad.clone())).await;
        assert_eq!((s, body["errorCode"].as_str()), (400, Some("invalid_body")), "{bad}: {body}");
    }
    let (s, body) = app.mgmt("POST", "/refresh-tokens/revoke", &token, Some(json!({"user_id": "u", "everything": true}))).await;
    assert_eq!(s, 400);
    assert!(body["message"].as_str().unwrap().contains("everything"), "names the unknown field: {body}");
}

#[tokio::test]
async fn refresh_token_routes_need_their_scopes_and_an_existing_user() {
    let app = TestApp::spawn().await;
    let read_only = app.management_token("m2m", &["read:refresh_tokens"]);
    let (s, body) = app.mgmt("DELETE", "/users/ratchet%7Cnobody/refresh-tokens", &read_only, None).await;
    assert_eq!((s, body["errorCode"].as_str()), (403, Some("insufficient_scope")));
    assert!(body["message"].as_str().unwrap().contains("delete:refresh_tokens"), "{body}");
    let (s, body) = app.mgmt("GET", "/users/ratchet%7Cnobody/refresh-tokens", &read_only, None).await;
    assert_eq!((s, body["errorCode"].as_str()), (404, Some("inexistent_user")));
    let (s, body) = app.mgmt("GET", "/users/ratchet%7Cnobody/refresh-tokens?take=0", &read_only, None).await;
    assert_eq!(s, 400, "{body}");
}
