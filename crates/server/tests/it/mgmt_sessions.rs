//! `/api/v2` sessions: a user's list (`{sessions, next}`), one by id (the `sid` of its ID
//! tokens), deletion (single sign-on ends, refresh tokens survive) and revocation (its refresh
//! tokens too).

use serde_json::{Value, json};

use crate::support::*;

const ALL: &[&str] = &["read:sessions", "delete:sessions", "delete:refresh_tokens", "read:refresh_tokens"];

fn silent(app: &TestApp, client_id: &str) -> String {
    let (_, challenge) = pkce();
    let a = Authorize { client_id, redirect_uri: CALLBACK, scope: "openid", audience: None, extra: vec![("prompt", "none".into())] };
    app.authorize_url(&a, &challenge, "silent")
}

async fn silent_error(app: &TestApp, b: &reqwest::Client, client_id: &str) -> Option<String> {
    let r = b.get(silent(app, client_id)).send().await.unwrap();
    param(r.headers()["location"].to_str().unwrap(), "error")
}

fn sid(tokens: &Value) -> String {
    claims(tokens["id_token"].as_str().unwrap())["sid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_users_sessions_are_listed_with_the_sid_of_their_id_tokens() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let alice = app.user("alice@example.com").await;
    let t1 = app.sign_in_with(&browser(), &c, "alice@example.com").await;
    let t2 = app.sign_in_with(&browser(), &c, "alice@example.com").await;
    let token = app.management_token("m2m", ALL);
    let path = format!("/users/{}/sessions", enc(&alice.user_id));

    let (s, first) = app.mgmt("GET", &format!("{path}?take=1&include_totals=true"), &token, None).await;
    assert_eq!(s, 200, "{first}");
    let next = first["next"].as_str().expect("more").to_string();
    let (_, second) = app.mgmt("GET", &format!("{path}?take=1&from={next}"), &token, None).await;
    assert!(second.get("next").is_none());
    let mut ids = vec![first["sessions"][0]["id"].as_str().unwrap().to_string(), second["sessions"][0]["id"].as_str().unwrap().to_string()];
    ids.sort();
    let mut sids = vec![sid(&t1), sid(&t2)];
    sids.sort();
    assert_eq!(ids, sids, "a session's id is the sid of its ID tokens");

    let (s, one) = app.mgmt("GET", &format!("/sessions/{}", sid(&t1)), &token, None).await;
    assert_eq!(s, 200);
    assert_eq!(one["user_id"], alice.user_id.as_str());
    assert_eq!(one["clients"], json!([{"client_id": c.client_id}]));
    assert_eq!(one["device"]["initial_ip"], "127.0.0.1");
    assert_eq!(one["authentication"]["methods"][0]["name"], "pwd");
    for k in ["created_at", "updated_at", "authenticated_at", "idle_expires_at", "expires_at", "last_interacted_at"] {
        assert!(one[k].as_str().is_some_and(|v| v.ends_with('Z')), "{k}: {one}");
    }
    let (s, body) = app.mgmt("GET", "/sessions/nope", &token, None).await;
    assert_eq!((s, body["errorCode"].as_str()), (404, Some("inexistent_session")));
}

#[tokio::test]
async fn deleting_a_session_keeps_its_refresh_tokens_working() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = browser();
    let tokens = app.sign_in_with(&b, &c, "alice@example.com").await;
    assert_eq!(silent_error(&app, &b, &c.client_id).await, None, "signed in: silent authentication works");
    let token = app.management_token("m2m", ALL);

    let (s, body) = app.mgmt("DELETE", &format!("/sessions/{}", sid(&tokens)), &token, None).await;
    assert_eq!((s, body), (202, Value::Null));
    assert_eq!(silent_error(&app, &b, &c.client_id).await.as_deref(), Some("login_required"), "single sign-on ended");
    let (s, _) = app.refresh(&c, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(s, 200, "the refresh token survives the session, as in Auth0");
    assert_eq!(app.mgmt("GET", &format!("/sessions/{}", sid(&tokens)), &token, None).await.0, 404);
}

#[tokio::test]
async fn post_sessions_revoke_kills_exactly_that_sessions_families() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let (b1, b2) = (browser(), browser());
    let s1 = app.sign_in_with(&b1, &c, "alice@example.com").await;
    // A second family in the same session (silent authentication reuses it).
    let again = {
        let (verifier, challenge) = pkce();
        let a = Authorize {
            client_id: &c.client_id,
            redirect_uri: CALLBACK,
            scope: "openid offline_access",
            audience: None,
            extra: vec![("prompt", "none".into())],
        };
        let r = b1.get(app.authorize_url(&a, &challenge, "again")).send().await.unwrap();
        let code = param(r.headers()["location"].to_str().unwrap(), "code").expect("a code without login");
        app.exchange(&c, &code, &verifier).await
    };
    assert_eq!(sid(&again), sid(&s1), "the same session");
    let s2 = app.sign_in_with(&b2, &c, "alice@example.com").await;
    let token = app.management_token("m2m", ALL);

    let (s, _) = app.mgmt("POST", &format!("/sessions/{}/revoke", sid(&s1)), &token, None).await;
    assert_eq!(s, 202);
    for t in [&s1, &again] {
        let (st, b) = app.refresh(&c, t["refresh_token"].as_str().unwrap()).await;
        assert_invalid_refresh_token(st, &b, "a family of the revoked session");
    }
    assert_eq!(app.refresh(&c, s2["refresh_token"].as_str().unwrap()).await.0, 200, "another session's family lives");
    assert_eq!(silent_error(&app, &b1, &c.client_id).await.as_deref(), Some("login_required"));
    assert_eq!(silent_error(&app, &b2, &c.client_id).await, None, "the other session lives");

    let only_sessions = app.management_token("m2m", &["delete:sessions"]);
    let (s, body) = app.mgmt("POST", &format!("/sessions/{}/revoke", sid(&s2)), &only_sessions, None).await;
    assert_eq!((s, body["errorCode"].as_str()), (403, Some("insufficient_scope")), "revoke needs both scopes");
}

#[tokio::test]
async fn deleting_a_users_sessions_ends_them_all_and_keeps_other_users() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let alice = app.user("alice@example.com").await;
    app.user("bob@example.com").await;
    let (ba, bb) = (browser(), browser());
    let ta = app.sign_in_with(&ba, &c, "alice@example.com").await;
    app.sign_in_with(&bb, &c, "bob@example.com").await;
    let token = app.management_token("m2m", ALL);
    assert_eq!(app.mgmt("DELETE", &format!("/users/{}/sessions", enc(&alice.user_id)), &token, None).await.0, 202);
    let (_, listed) = app.mgmt("GET", &format!("/users/{}/sessions", enc(&alice.user_id)), &token, None).await;
    assert_eq!(listed, json!({"sessions": []}));
    assert_eq!(silent_error(&app, &ba, &c.client_id).await.as_deref(), Some("login_required"));
    assert_eq!(silent_error(&app, &bb, &c.client_id).await, None);
    assert_eq!(app.refresh(&c, ta["refresh_token"].as_str().unwrap()).await.0, 200);
    assert_eq!(app.mgmt("DELETE", "/users/ratchet%7Cnobody/sessions", &token, None).await.0, 404);
}
