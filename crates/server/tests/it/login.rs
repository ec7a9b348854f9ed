//! The login page: CSRF, generic errors, brute-force limits (more in `brute_force.rs`), blocked users, headers.

use crate::support::*;

pub(crate) async fn login_page(app: &TestApp, b: &reqwest::Client, client_id: &str) -> (String, reqwest::Response) {
    let (_, challenge) = pkce();
    let a = Authorize { client_id, redirect_uri: CALLBACK, scope: "openid", audience: None, extra: vec![] };
    let r = b.get(app.authorize_url(&a, &challenge, "s")).send().await.unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let page = b.get(app.url(&loc)).send().await.unwrap();
    let tx = loc.trim_start_matches("/u/login?state=").to_string();
    (tx, page)
}

pub(crate) async fn post_login(app: &TestApp, b: &reqwest::Client, tx: &str, user: &str, pw: &str) -> reqwest::Response {
    b.post(app.url("/u/login"))
        .header("origin", &app.base)
        .form(&[("state", tx), ("username", user), ("password", pw)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn login_page_is_a_post_form_that_cannot_be_framed() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let (_, page) = login_page(&app, &browser(), &c.client_id).await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("method=\"POST\""));
    assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""));
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_generic_error() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = browser();
    let (tx, _) = login_page(&app, &b, &c.client_id).await;
    let wrong = post_login(&app, &b, &tx, "alice@example.com", "not the password").await;
    let unknown = post_login(&app, &b, &tx, "nobody@example.com", "not the password").await;
    assert_eq!(wrong.status(), unknown.status());
    let (w, u) = (wrong.text().await.unwrap(), unknown.text().await.unwrap());
    assert!(w.contains("Wrong email or password.") && u.contains("Wrong email or password."));
    assert_eq!(app.events("f").await.len(), 2);
}

#[tokio::test]
async fn login_requires_the_csrf_cookie_bound_to_the_transaction() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let (tx, _) = login_page(&app, &browser(), &c.client_id).await;
    // Another browser (the attacker's victim) has no matching cookie.
    let r = post_login(&app, &browser(), &tx, "alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none(), "no session was created");
}

#[tokio::test]
async fn cross_origin_login_posts_are_refused() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = browser();
    let (tx, _) = login_page(&app, &b, &c.client_id).await;
    let r = b
        .post(app.url("/u/login"))
        .header("origin", "https://evil.example")
        .form(&[("state", tx.as_str()), ("username", "alice@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn login_post_as_browsers_send_it_is_accepted() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = browser();
    let (tx, page) = login_page(&app, &b, &c.client_id).await;
    assert_eq!(page.headers()["referrer-policy"], "same-origin", "so browsers send a real Origin");
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(!csp.contains("form-action"), "form-action would also block the redirect to the callback: {csp}");
    let post = |origin: &'static str, site: Option<&'static str>| {
        let mut r = b.post(app.url("/u/login")).header("origin", origin);
        if let Some(s) = site {
            r = r.header("sec-fetch-site", s);
        }
        r.form(&[("state", tx.as_str()), ("username", "alice@example.com"), ("password", PASSWORD)]).send()
    };
    assert_eq!(post("null", None).await.unwrap().status(), 403, "an opaque origin alone proves nothing");
    assert_eq!(post("null", Some("cross-site")).await.unwrap().status(), 403);
    assert_eq!(post("null", Some("same-origin")).await.unwrap().status(), 302);
}

#[tokio::test]
async fn tampered_login_transaction_is_refused() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = browser();
    let (tx, _) = login_page(&app, &b, &c.client_id).await;
    let mut forged = tx.clone();
    forged.insert(5, 'A');
    assert_eq!(post_login(&app, &b, &forged, "alice@example.com", PASSWORD).await.status(), 400);
    // An expired transaction is refused too.
    app.clock.advance(3601);
    assert_eq!(post_login(&app, &b, &tx, "alice@example.com", PASSWORD).await.status(), 400);
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_retry_after() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = browser();
    let (tx, _) = login_page(&app, &b, &c.client_id).await;
    for _ in 0..10 {
        assert_eq!(post_login(&app, &b, &tx, "alice@example.com", "wrong-password").await.status(), 400);
    }
    let r = post_login(&app, &b, &tx, "alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 429, "even the right password waits while throttled");
    assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() > 0);
    app.clock.advance(15 * 60);
    let (tx, _) = login_page(&app, &b, &c.client_id).await;
    assert_eq!(post_login(&app, &b, &tx, "alice@example.com", PASSWORD).await.status(), 302);
}

#[tokio::test]
async fn failures_from_one_ip_are_throttled_across_usernames() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = browser();
    let (tx, _) = login_page(&app, &b, &c.client_id).await;
    // Nine failures per username stay under the per-user limit; the IP's limit (100) is reached.
    for i in 0..100 {
        let user = format!("guess{}@example.com", i / 9);
        assert_eq!(post_login(&app, &b, &tx, &user, "wrong-password").await.status(), 400, "attempt {i}");
    }
    let r = post_login(&app, &b, &tx, "alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 429, "the IP is throttled, whatever the username");
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(app.events("limit_mu").await.len(), 1, "the address's block is logged once");
}

#[tokio::test]
async fn blocked_user_cannot_sign_in() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let u = app.user("alice@example.com").await;
    app.state.store.set_user_blocked(&u.user_id, true, app.clock.now_for_tests()).await.unwrap();
    let b = browser();
    let (tx, _) = login_page(&app, &b, &c.client_id).await;
    let r = post_login(&app, &b, &tx, "alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Wrong email or password."));
}

#[tokio::test]
async fn deleted_user_cannot_sign_in() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let u = app.user("alice@example.com").await;
    app.state.store.delete_user(&u.user_id, app.clock.now_for_tests()).await.unwrap();
    let b = browser();
    let (tx, _) = login_page(&app, &b, &c.client_id).await;
    assert_eq!(post_login(&app, &b, &tx, "alice@example.com", PASSWORD).await.status(), 400);
}

#[tokio::test]
async fn session_cookie_is_http_only_and_same_site_lax() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = browser();
    let (tx, _) = login_page(&app, &b, &c.client_id).await;
    let r = post_login(&app, &b, &tx, "alice@example.com", PASSWORD).await;
    assert_eq!(r.status(), 302);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("ratchet_session="))
        .unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "http issuer: no Secure flag");
    // Only a hash of the session id is stored.
    let id = cookie.trim_start_matches("ratchet_session=").split(';').next().unwrap();
    assert!(app.state.store.session(&ratchet_core::secret::hash(id)).await.unwrap().is_some());
    assert!(app.state.store.session(id).await.unwrap().is_none());
}
