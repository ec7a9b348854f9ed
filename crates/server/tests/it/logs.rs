//! `/api/v2/logs`, `/api/v2/logs/{id}`, `/api/v2/users/{id}/logs`, `/api/v2/stats/active-users`
//! and `/api/v2/stats/live` over a real socket: Auth0's log objects (with the request's ip and
//! user agent), both list shapes, Lucene searches, sorting, offset pages over more events than a page, checkpoint reads,
//! each error with Auth0's body, and the scopes.

use ratchet_store::Event;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Authorize, CALLBACK, NowForTests, PASSWORD, TestApp, pkce};

const READ_LOGS: &[&str] = &["read:logs"];

async fn get(app: &TestApp, path: &str, scopes: &[&str]) -> (StatusCode, Value) {
    let token = app.management_token("mgmt-test-client", scopes);
    let res = reqwest::Client::new().get(app.url(path)).bearer_auth(token).send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn event(at: i64, kind: &str, user_id: Option<&str>, client_id: Option<&str>, description: &str) -> Event {
    Event {
        at,
        kind: kind.into(),
        client_id: client_id.map(str::to_string),
        user_id: user_id.map(str::to_string),
        description: description.into(),
        details: serde_json::json!({ "description": description }),
        ip: None,
        user_agent: None,
    }
}

fn descriptions(logs: &Value) -> Vec<String> {
    logs.as_array().unwrap_or_else(|| panic!("an array: {logs}")).iter().map(|l| l["description"].as_str().unwrap().to_string()).collect()
}

/// `n` events, one a second from now, descriptions "0".."n-1"; every third is an `f` of user
/// `u-f`, the rest `s` of user `u-s`.
async fn events(app: &TestApp, n: i64) -> i64 {
    let start = app.clock.now_for_tests();
    let evs: Vec<Event> = (0..n)
        .map(|i| {
            if i % 3 == 0 {
                event(start + i, "f", Some("u-f"), Some("client-a"), &i.to_string())
            } else {
                event(start + i, "s", Some("u-s"), Some("client-b"), &i.to_string())
            }
        })
        .collect();
    app.state.store.record_many(&evs).await.unwrap();
    start
}

#[tokio::test]
async fn a_login_is_logged_with_auth0s_fields_and_the_requests_ip_and_user_agent() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    let user = app.user("ada@example.com").await;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("logs-test-browser/1.0")
        .build()
        .unwrap();
    let a = Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope: "openid", audience: None, extra: vec![] };
    let (_, challenge) = pkce();
    let r = app.sign_in(&browser, &app.authorize_url(&a, &challenge, "s"), "ada@example.com", PASSWORD).await;
    assert_eq!(r.status(), 302);
    app.state.flush_audit().await;

    let (status, logs) = get(&app, "/api/v2/logs?q=type:s", READ_LOGS).await;
    assert_eq!(status, StatusCode::OK, "{logs}");
    let log = &logs[0];
    assert_eq!(logs.as_array().unwrap().len(), 1, "{logs}");
    assert_eq!(log["type"], "s");
    assert_eq!(log["user_id"], user.user_id.as_str());
    assert_eq!(log["user_name"], "ada@example.com");
    assert_eq!(log["client_id"], client.client_id.as_str());
    assert_eq!(log["client_name"], client.name.as_str());
    assert_eq!(log["ip"], "127.0.0.1");
    assert_eq!(log["user_agent"], "logs-test-browser/1.0");
    assert!(log["log_id"].as_str().is_some_and(|id| id.parse::<u64>().is_ok()), "{log}");
    assert!(log["description"].is_string() && log["details"].is_object(), "{log}");
    let date = log["date"].as_str().unwrap();
    assert_eq!(ratchet_core::iso8601::parse(date, ratchet_core::iso8601::Fill::Start), Some(app.clock.now_for_tests()), "{date}");
    assert!(date.ends_with(".000Z"), "{date}");

    // The same event by id, and in the user's logs.
    let id = log["log_id"].as_str().unwrap();
    let (status, one) = get(&app, &format!("/api/v2/logs/{id}"), READ_LOGS).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&one, log);
    let encoded = user.user_id.replace('|', "%7C");
    let (status, mine) = get(&app, &format!("/api/v2/users/{encoded}/logs"), READ_LOGS).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert!(mine.as_array().unwrap().iter().any(|l| l["log_id"] == log["log_id"]), "{mine}");
    assert!(mine.as_array().unwrap().iter().all(|l| l["user_id"] == user.user_id.as_str()));
}

#[tokio::test]
async fn logs_answer_a_bare_array_or_the_include_totals_envelope() {
    let app = TestApp::spawn().await;
    events(&app, 7).await;
    let (status, bare) = get(&app, "/api/v2/logs?per_page=3", READ_LOGS).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(descriptions(&bare), ["6", "5", "4"], "newest first by default");
    let (_, env) = get(&app, "/api/v2/logs?per_page=3&page=1&include_totals=true", READ_LOGS).await;
    assert_eq!(env["start"], 3);
    assert_eq!(env["limit"], 3);
    assert_eq!(env["length"], 3);
    assert_eq!(env["total"], 7);
    assert_eq!(descriptions(&env["logs"]), ["3", "2", "1"]);
    let (_, env) = get(&app, "/api/v2/users/u-s/logs?include_totals=true&per_page=2&sort=date:1", READ_LOGS).await;
    assert_eq!(env["total"], 4);
    assert_eq!(descriptions(&env["logs"]), ["1", "2"]);
}

#[tokio::test]
async fn logs_page_through_more_events_than_a_page_in_both_orders() {
    let app = TestApp::spawn().await;
    events(&app, 250).await;
    for (sort, want) in
        [("date:-1", (0..250).rev().map(|i| i.to_string()).collect::<Vec<_>>()), ("date:1", (0..250).map(|i| i.to_string()).collect())]
    {
        let mut all = Vec::new();
        for page in 0..3 {
            let (status, env) =
                get(&app, &format!("/api/v2/logs?per_page=100&page={page}&sort={sort}&include_totals=true"), READ_LOGS).await;
            assert_eq!(status, StatusCode::OK, "{env}");
            assert_eq!(env["total"], 250);
            all.extend(descriptions(&env["logs"]));
        }
        assert_eq!(all, want, "{sort}");
    }
}

#[tokio::test]
async fn lucene_searches_filter_by_type_user_client_and_date() {
    let app = TestApp::spawn().await;
    let start = events(&app, 10).await;
    let iso = |t: i64| ratchet_core::iso8601::format(t);
    for (q, want) in [
        ("type:f".to_string(), vec!["9", "6", "3", "0"]),
        ("user_id:\"u-s\" AND type:s".into(), vec!["8", "7", "5", "4", "2", "1"]),
        ("client_id:client-a".into(), vec!["9", "6", "3", "0"]),
        (format!("date:[{} TO {}]", iso(start + 2), iso(start + 4)), vec!["4", "3", "2"]),
        (format!("type:s date:[{} TO *]", iso(start + 7)), vec!["8", "7"]),
    ] {
        // Both parameter names; the value URL-encoded as the SDKs send it.
        for param in ["q", "search"] {
            let encoded: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
            let (status, logs) = get(&app, &format!("/api/v2/logs?{param}={encoded}"), READ_LOGS).await;
            assert_eq!(status, StatusCode::OK, "{q}: {logs}");
            assert_eq!(descriptions(&logs), want, "{param}={q}");
        }
    }
}

#[tokio::test]
async fn an_unsupported_search_is_400_naming_what_is_supported() {
    let app = TestApp::spawn().await;
    for q in ["description:login", "type:s%20OR%20type:f", "date:%5Byesterday%20TO%20*%5D", "type:s*"] {
        let (status, body) = get(&app, &format!("/api/v2/logs?q={q}"), READ_LOGS).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(body["statusCode"], 400);
        assert_eq!(body["error"], "Bad Request");
        assert_eq!(body["errorCode"], "invalid_query_string");
        assert!(body["message"].as_str().unwrap().contains("supported terms are type:CODE, user_id:ID, client_id:ID"), "{body}");
    }
    let (status, body) = get(&app, "/api/v2/logs?sort=type:1", READ_LOGS).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("date:1 or date:-1"), "{body}");
}

#[tokio::test]
async fn offset_paging_stops_at_a_thousand_results_as_auth0s() {
    let app = TestApp::spawn().await;
    let (status, _) = get(&app, "/api/v2/logs?per_page=100&page=9", READ_LOGS).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get(&app, "/api/v2/logs?per_page=100&page=10", READ_LOGS).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("from and take"), "{body}");
    let (status, _) = get(&app, "/api/v2/logs?per_page=101", READ_LOGS).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_checkpoint_reads_the_events_after_a_log_id_oldest_first_as_a_plain_array() {
    let app = TestApp::spawn().await;
    events(&app, 120).await;
    let (_, oldest) = get(&app, "/api/v2/logs?sort=date:1&per_page=1", READ_LOGS).await;
    let mut from = oldest[0]["log_id"].as_str().unwrap().to_string();
    let mut seen = vec!["0".to_string()];
    loop {
        // Every other parameter is ignored with `from`, as Auth0's.
        let (status, chunk) = get(&app, &format!("/api/v2/logs?from={from}&take=50&include_totals=true&q=type:f"), READ_LOGS).await;
        assert_eq!(status, StatusCode::OK, "{chunk}");
        let items = chunk.as_array().unwrap_or_else(|| panic!("a plain array: {chunk}"));
        assert!(items.len() <= 50);
        let Some(last) = items.last() else { break };
        from = last["log_id"].as_str().unwrap().to_string();
        seen.extend(descriptions(&chunk));
    }
    assert_eq!(seen, (0..120).map(|i| i.to_string()).collect::<Vec<_>>());
    let (status, body) = get(&app, "/api/v2/logs?from=not-a-log-id", READ_LOGS).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errorCode"], "invalid_query_string");
    let (status, _) = get(&app, &format!("/api/v2/logs?from={from}&take=101"), READ_LOGS).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_unknown_log_id_is_404_inexistent_log() {
    let app = TestApp::spawn().await;
    for id in ["999999", "not-a-number", "%7C"] {
        let (status, body) = get(&app, &format!("/api/v2/logs/{id}"), READ_LOGS).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(body["statusCode"], 404);
        assert_eq!(body["error"], "Not Found");
        assert_eq!(body["errorCode"], "inexistent_log");
    }
}

#[tokio::test]
async fn reading_logs_needs_read_logs_or_read_logs_users() {
    let app = TestApp::spawn().await;
    events(&app, 1).await;
    for path in ["/api/v2/logs", "/api/v2/logs/1", "/api/v2/users/u-s/logs"] {
        let (status, body) = get(&app, path, &["read:users", "read:stats"]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(body["errorCode"], "insufficient_scope");
        assert_eq!(body["message"], "Insufficient scope, expected any of: read:logs,read:logs_users");
        let (status, _) = get(&app, path, &["read:logs_users"]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let res = reqwest::Client::new().get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let (status, body) = get(&app, "/api/v2/stats/active-users", READ_LOGS).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["message"], "Insufficient scope, expected any of: read:stats");
}

#[tokio::test]
async fn active_users_is_a_bare_number_of_users_signed_in_within_30_days() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    app.user("ada@example.com").await;
    app.user("bob@example.com").await;
    let (status, n) = get(&app, "/api/v2/stats/active-users", &["read:stats"]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(n, serde_json::json!(0));
    for email in ["ada@example.com", "ada@example.com", "bob@example.com"] {
        app.sign_in_tokens(&client, email, "openid", None).await;
    }
    app.state.flush_audit().await;
    let res = reqwest::Client::new()
        .get(app.url("/api/v2/stats/active-users"))
        .bearer_auth(app.management_token("c", &["read:stats"]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.text().await.unwrap(), "2", "a bare JSON number");
    app.clock.advance(31 * 86_400);
    let (_, n) = get(&app, "/api/v2/stats/active-users", &["read:stats"]).await;
    assert_eq!(n, serde_json::json!(0), "logins older than 30 days do not count");
}

#[tokio::test]
async fn live_stats_count_only_live_sessions_and_refresh_token_families() {
    let app = TestApp::spawn().await;
    let client = app.spa().await;
    let ada = app.user("ada@example.com").await;
    app.user("bob@example.com").await;
    let (status, body) = get(&app, "/api/v2/stats/live", &["read:stats"]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({"sessions": 0, "refresh_token_families": 0}));

    let rt = app.refresh_token(&client, "ada@example.com").await;
    app.refresh_token(&client, "ada@example.com").await;
    app.refresh_token(&client, "bob@example.com").await;
    let (status, body) = app.refresh(&client, &rt).await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = get(&app, "/api/v2/stats/live", &["read:stats"]).await;
    assert_eq!(body, serde_json::json!({"sessions": 3, "refresh_token_families": 3}), "a rotation keeps one family");

    app.state.manage.refresh_tokens.revoke_of_user(&ada.user_id).await.unwrap();
    let (_, body) = get(&app, "/api/v2/stats/live", &["read:stats"]).await;
    assert_eq!(body, serde_json::json!({"sessions": 3, "refresh_token_families": 1}), "revoked families are not live; sessions stay");

    app.clock.advance(400 * 86_400);
    let (_, body) = get(&app, "/api/v2/stats/live", &["read:stats"]).await;
    assert_eq!(body, serde_json::json!({"sessions": 0, "refresh_token_families": 0}), "expired ones are not live");

    let (status, body) = get(&app, "/api/v2/stats/live", READ_LOGS).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["message"], "Insufficient scope, expected any of: read:stats");
}
