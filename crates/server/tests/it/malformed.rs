//! A malformed-input sweep: nothing a client sends produces a 5xx, a panic or a hang.

use std::time::Duration;

use crate::support::*;

async fn assert_no_5xx(r: Result<reqwest::Response, reqwest::Error>, what: &str) {
    match r {
        Ok(r) => assert!(r.status().as_u16() < 500, "{what}: {}", r.status()),
        Err(e) => panic!("{what}: no response ({e})"),
    }
}

#[tokio::test]
async fn malformed_input_never_produces_a_server_error() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(10)).build().unwrap();
    let long = "a".repeat(20_000);
    let queries = [
        String::new(),
        "client_id".into(),
        "%".into(),
        "client_id=%ZZ".into(),
        "client_id=%FF%FE%00".into(),
        format!("client_id={}&client_id={}", c.client_id, c.client_id),
        format!("client_id={}&redirect_uri={}", c.client_id, long),
        format!("client_id={}&redirect_uri={CALLBACK}&response_type=code&state={long}", c.client_id),
        format!("client_id={}&redirect_uri={CALLBACK}&response_type=code&max_age=99999999999999999999999", c.client_id),
        format!("client_id={}&redirect_uri={CALLBACK}&response_type=code&code_challenge=%00%01&code_challenge_method=S256", c.client_id),
        format!("client_id={}&redirect_uri={CALLBACK}&response_type=code&scope=%C3%28&prompt=%0A", c.client_id),
        "&&&&==&=&".into(),
        format!("{}=1", "x&".repeat(5000)),
    ];
    for q in &queries {
        assert_no_5xx(http.get(format!("{}?{q}", app.url("/authorize"))).send().await, &format!("authorize {}", &q[..q.len().min(60)]))
            .await;
        assert_no_5xx(http.get(format!("{}?{q}", app.url("/u/login"))).send().await, "login page").await;
        assert_no_5xx(http.get(format!("{}?{q}", app.url("/v2/logout"))).send().await, "logout").await;
        assert_no_5xx(http.get(format!("{}?{q}", app.url("/oidc/logout"))).send().await, "oidc logout").await;
    }
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("application/x-www-form-urlencoded", b"".to_vec()),
        ("application/x-www-form-urlencoded", b"grant_type=authorization_code&code=\xff\xfe".to_vec()),
        ("application/x-www-form-urlencoded", b"grant_type=refresh_token&grant_type=refresh_token".to_vec()),
        (
            "application/x-www-form-urlencoded",
            format!("grant_type=refresh_token&client_id={}&refresh_token={long}", c.client_id).into_bytes(),
        ),
        (
            "application/x-www-form-urlencoded",
            format!("grant_type=refresh_token&client_id={}&refresh_token=%00%00", c.client_id).into_bytes(),
        ),
        ("application/x-www-form-urlencoded", b"%%%%".to_vec()),
        ("application/json", b"{".to_vec()),
        ("application/json", b"null".to_vec()),
        ("application/json", b"{\"grant_type\":{\"a\":1}}".to_vec()),
        ("application/json", b"\xff\xfe\xfd".to_vec()),
        (
            "application/json",
            format!("{{\"grant_type\":\"authorization_code\",\"client_id\":\"{}\",\"code\":12}}", c.client_id).into_bytes(),
        ),
        ("text/plain", b"grant_type=refresh_token".to_vec()),
        ("multipart/form-data; boundary=x", b"--x\r\n".to_vec()),
        ("", b"grant_type=refresh_token".to_vec()),
        ("application/x-www-form-urlencoded", vec![b'a'; 200_000]),
    ];
    for path in ["/oauth/token", "/oauth/revoke", "/u/login"] {
        for (ct, body) in &bodies {
            let mut req = http.post(app.url(path)).body(body.clone());
            if !ct.is_empty() {
                req = req.header("content-type", *ct);
            }
            assert_no_5xx(req.send().await, &format!("{path} {ct} {}", body.len())).await;
        }
        // Bad Basic credentials and bad cookies.
        for auth in ["Basic !!!", "Basic Zm9v", "Basic w6k6w6k=", "Bearer x"] {
            let r = http
                .post(app.url(path))
                .header("authorization", auth)
                .header("cookie", "ratchet_csrf=; ratchet_session=%%; =;; ratchet_session=\"x\"")
                .form(&[("grant_type", "client_credentials"), ("state", "x")])
                .send()
                .await;
            assert_no_5xx(r, &format!("{path} {auth}")).await;
        }
    }
    for path in ["/userinfo", "/oauth/token", "/nope", "/.well-known/jwks.json"] {
        assert_no_5xx(http.request(reqwest::Method::PUT, app.url(path)).body("x").send().await, path).await;
    }
    // The stored data survived all of that.
    assert!(app.state.store.client(&c.client_id).await.unwrap().is_some());
    assert!(app.state.store.user_by_email("alice@example.com").await.unwrap().is_some());
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let app = TestApp::spawn().await;
    let r = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 1_000_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    let r = reqwest::Client::new().delete(app.url("/oauth/token")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed");
}
