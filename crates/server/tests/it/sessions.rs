//! Sessions: silent authentication (`prompt=none`) in `query` and `web_message` modes, `max_age`,
//! `prompt=login`, one session per browser, and logout with its confirmation (RP-Initiated
//! Logout 1.0 §2).

use crate::support::*;

fn silent(app: &TestApp, client_id: &str, mode: &str, extra: Vec<(&'static str, String)>) -> String {
    let (_, challenge) = pkce();
    let mut e = vec![("prompt", "none".to_string()), ("response_mode", mode.to_string())];
    e.extend(extra);
    let a = Authorize { client_id, redirect_uri: CALLBACK, scope: "openid", audience: None, extra: e };
    app.authorize_url(&a, &challenge, "silent-state")
}

async fn signed_in_browser(app: &TestApp, client_id: &str) -> reqwest::Client {
    let b = browser();
    let a = Authorize { client_id, redirect_uri: CALLBACK, scope: "openid", audience: None, extra: vec![] };
    app.code(&b, &a, "alice@example.com").await;
    b
}

#[tokio::test]
async fn silent_auth_without_session_is_login_required() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let r = browser().get(silent(&app, &c.client_id, "query", vec![])).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(param(&loc, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&loc, "state").as_deref(), Some("silent-state"));
    assert_eq!(app.events("fsa").await.len(), 1);
}

#[tokio::test]
async fn silent_auth_with_session_returns_a_code_without_ui() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = signed_in_browser(&app, &c.client_id).await;
    let r = b.get(silent(&app, &c.client_id, "query", vec![])).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(CALLBACK));
    assert!(param(&loc, "code").is_some());
    assert_eq!(app.events("ssa").await.len(), 1);
}

#[tokio::test]
async fn fragment_mode_puts_the_response_in_the_fragment() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let r = browser().get(silent(&app, &c.client_id, "fragment", vec![])).send().await.unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.contains("#error=login_required"), "{loc}");
}

#[tokio::test]
async fn web_message_posts_only_to_the_registered_origin() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    // Without a session: an error message.
    let r = browser().get(silent(&app, &c.client_id, "web_message", vec![])).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains(&format!("frame-ancestors {SPA_ORIGIN}")), "{csp}");
    let html = r.text().await.unwrap();
    assert!(html.contains(r#""type":"authorization_response""#), "{html}");
    assert!(html.contains(r#""error":"login_required""#));
    assert!(html.contains(&format!("var target=\"{SPA_ORIGIN}\"")), "{html}");
    assert!(!html.contains("postMessage(msg,\"*\")") && !html.contains("'*'"));
    // With a session: a code.
    let b = signed_in_browser(&app, &c.client_id).await;
    let html = b.get(silent(&app, &c.client_id, "web_message", vec![])).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(r#""code":""#) && html.contains(r#""state":"silent-state""#), "{html}");
}

#[tokio::test]
async fn web_message_escapes_attacker_controlled_state() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let url =
        silent(&app, &c.client_id, "web_message", vec![]).replace("silent-state", "%3C%2Fscript%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    let html = browser().get(url).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("</script><script>alert(1)"), "{html}");
}

#[tokio::test]
async fn max_age_exceeded_requires_login_again() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = signed_in_browser(&app, &c.client_id).await;
    app.clock.advance(120);
    let r = b.get(silent(&app, &c.client_id, "query", vec![("max_age", "60".into())])).send().await.unwrap();
    assert_eq!(param(r.headers()["location"].to_str().unwrap(), "error").as_deref(), Some("login_required"));
    let r = b.get(silent(&app, &c.client_id, "query", vec![("max_age", "600".into())])).send().await.unwrap();
    assert!(param(r.headers()["location"].to_str().unwrap(), "code").is_some());
}

#[tokio::test]
async fn prompt_login_forces_the_login_page_despite_a_session() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = signed_in_browser(&app, &c.client_id).await;
    let (_, challenge) = pkce();
    let a = Authorize {
        client_id: &c.client_id,
        redirect_uri: CALLBACK,
        scope: "openid",
        audience: None,
        extra: vec![("prompt", "login".into())],
    };
    let r = b.get(app.authorize_url(&a, &challenge, "s")).send().await.unwrap();
    assert!(r.headers()["location"].to_str().unwrap().starts_with("/u/login"));
}

#[tokio::test]
async fn session_idle_and_absolute_lifetimes_end_it() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = signed_in_browser(&app, &c.client_id).await;
    app.clock.advance(3 * 24 * 3600);
    let r = b.get(silent(&app, &c.client_id, "query", vec![])).send().await.unwrap();
    assert_eq!(
        param(r.headers()["location"].to_str().unwrap(), "error").as_deref(),
        Some("login_required"),
        "idle lifetime (3 days) passed"
    );
    // Activity keeps it alive, but never past 7 days.
    let b = signed_in_browser(&app, &c.client_id).await;
    for _ in 0..3 {
        app.clock.advance(2 * 24 * 3600);
        let r = b.get(silent(&app, &c.client_id, "query", vec![])).send().await.unwrap();
        assert!(param(r.headers()["location"].to_str().unwrap(), "code").is_some());
    }
    app.clock.advance(24 * 3600 + 1);
    let r = b.get(silent(&app, &c.client_id, "query", vec![])).send().await.unwrap();
    assert_eq!(
        param(r.headers()["location"].to_str().unwrap(), "error").as_deref(),
        Some("login_required"),
        "absolute lifetime (7 days) passed"
    );
}

#[tokio::test]
async fn logout_ends_the_session_and_redirects_to_a_registered_url() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = signed_in_browser(&app, &c.client_id).await;
    let return_to = format!("{SPA_ORIGIN}/bye");
    let r = b
        .get(app.url("/v2/logout"))
        .query(&[("client_id", c.client_id.as_str()), ("returnTo", return_to.as_str()), ("federated", "")])
        .send()
        .await
        .unwrap();
    let r = confirm_logout(&app, &b, r).await;
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], return_to.as_str());
    let r = b.get(silent(&app, &c.client_id, "query", vec![])).send().await.unwrap();
    assert_eq!(param(r.headers()["location"].to_str().unwrap(), "error").as_deref(), Some("login_required"));
    assert_eq!(app.events("slo").await.len(), 1);
}

/// The confirmation form of a logout page: its action and sealed confirmation.
async fn confirmation_form(page: reqwest::Response) -> (String, String) {
    assert_eq!(page.status(), 200, "a confirmation page");
    let html = page.text().await.unwrap();
    let action = html.split("action=\"").nth(1).expect("a form").split('"').next().unwrap().to_string();
    let token = html.split("name=\"confirmation\" value=\"").nth(1).expect("a confirmation").split('"').next().unwrap().to_string();
    (action, token)
}

/// Presses the button of a logout confirmation page, as the browser `b` that got it.
async fn confirm_logout(app: &TestApp, b: &reqwest::Client, page: reqwest::Response) -> reqwest::Response {
    let (action, token) = confirmation_form(page).await;
    b.post(app.url(&action)).header("origin", &app.base).form(&[("confirmation", token.as_str())]).send().await.unwrap()
}

/// Whether `b` still has single sign-on at `client_id` (a silent authentication yields a code).
async fn still_signed_in(app: &TestApp, b: &reqwest::Client, client_id: &str) -> bool {
    let r = b.get(silent(app, client_id, "query", vec![])).send().await.unwrap();
    param(r.headers()["location"].to_str().unwrap(), "code").is_some()
}

/// The session cookie a response sets.
fn session_cookie(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.strip_prefix("ratchet_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .next()
        .expect("a session cookie")
}

#[tokio::test]
async fn new_sign_in_ends_the_previous_session() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    app.user("bob@example.com").await;
    let b = browser();
    let (_, challenge) = pkce();
    let mut a = Authorize { client_id: &c.client_id, redirect_uri: CALLBACK, scope: "openid", audience: None, extra: vec![] };
    let first = app.sign_in(&b, &app.authorize_url(&a, &challenge, "s"), "alice@example.com", PASSWORD).await;
    let alice = session_cookie(&first);
    a.extra = vec![("prompt", "login".into())];
    let second = app.sign_in(&b, &app.authorize_url(&a, &challenge, "s"), "bob@example.com", PASSWORD).await;
    assert_eq!(second.status(), 302);
    let bob = session_cookie(&second);
    assert!(app.state.store.session(&ratchet_core::secret::hash(&alice)).await.unwrap().is_none(), "alice's session ended");
    assert!(app.state.store.session(&ratchet_core::secret::hash(&bob)).await.unwrap().is_some());
    // A browser still holding the old cookie has no session.
    let stale = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r =
        stale.get(silent(&app, &c.client_id, "query", vec![])).header("cookie", format!("ratchet_session={alice}")).send().await.unwrap();
    assert_eq!(param(r.headers()["location"].to_str().unwrap(), "error").as_deref(), Some("login_required"));
}

#[tokio::test]
async fn logout_without_hint_asks_for_confirmation() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    for path in ["/v2/logout", "/oidc/logout"] {
        let b = signed_in_browser(&app, &c.client_id).await;
        let back = format!("{SPA_ORIGIN}/bye");
        let query = [("client_id", c.client_id.as_str()), ("returnTo", back.as_str()), ("post_logout_redirect_uri", back.as_str())];
        let page = b.get(app.url(path)).query(&query).send().await.unwrap();
        assert_eq!(page.status(), 200, "{path}");
        assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        assert!(still_signed_in(&app, &b, &c.client_id).await, "{path}: nothing ends before the user confirms");
        let r = confirm_logout(&app, &b, page).await;
        assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (302, back.as_str()), "{path}");
        assert!(!still_signed_in(&app, &b, &c.client_id).await, "{path}");
    }
}

#[tokio::test]
async fn logout_confirmation_requires_csrf_token() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = signed_in_browser(&app, &c.client_id).await;
    let page = b.get(app.url("/v2/logout")).query(&[("client_id", c.client_id.as_str())]).send().await.unwrap();
    let (action, token) = confirmation_form(page).await;
    let post = |b: &reqwest::Client, origin: &str, form: Vec<(&'static str, String)>| {
        b.post(app.url(&action)).header("origin", origin).form(&form).send()
    };
    assert_eq!(post(&b, &app.base, vec![]).await.unwrap().status(), 403, "no token");
    let mut forged = token.clone();
    forged.insert(3, 'A');
    assert_eq!(post(&b, &app.base, vec![("confirmation", forged)]).await.unwrap().status(), 403, "a tampered token");
    assert_eq!(post(&b, "https://evil.example", vec![("confirmation", token.clone())]).await.unwrap().status(), 403, "cross-site");
    let other = signed_in_browser(&app, &c.client_id).await;
    assert_eq!(post(&other, &app.base, vec![("confirmation", token.clone())]).await.unwrap().status(), 403, "another browser's session");
    assert!(still_signed_in(&app, &other, &c.client_id).await);
    assert!(still_signed_in(&app, &b, &c.client_id).await, "every refused POST left the session alone");
    app.clock.advance(601);
    assert_eq!(post(&b, &app.base, vec![("confirmation", token.clone())]).await.unwrap().status(), 403, "an expired token");
    assert_eq!(app.events("slo").await.len(), 0);
}

#[tokio::test]
async fn logout_with_valid_hint_proceeds() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = browser();
    let a = Authorize { client_id: &c.client_id, redirect_uri: CALLBACK, scope: "openid", audience: None, extra: vec![] };
    let (code, verifier) = app.code(&b, &a, "alice@example.com").await;
    let old_hint = app.exchange(&c, &code, &verifier).await["id_token"].as_str().unwrap().to_string();
    // A new sign-in in the same browser: the old ID token names a session that is over.
    let a = Authorize { extra: vec![("prompt", "login".into())], ..a };
    let (code, verifier) = app.code(&b, &a, "alice@example.com").await;
    let hint = app.exchange(&c, &code, &verifier).await["id_token"].as_str().unwrap().to_string();
    let r = b.get(app.url("/oidc/logout")).query(&[("id_token_hint", old_hint.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 200, "a hint for another session asks");
    let r = b.get(app.url("/oidc/logout")).query(&[("id_token_hint", hint.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 200, "no post_logout_redirect_uri: the signed-out page");
    assert!(r.text().await.unwrap().contains("You have been signed out."));
    assert!(!still_signed_in(&app, &b, &c.client_id).await);
}

#[tokio::test]
async fn logout_return_to_must_be_an_allowed_logout_url() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    let r = browser()
        .get(app.url("/v2/logout"))
        .query(&[("client_id", c.client_id.as_str()), ("returnTo", "https://evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    let r = browser().get(app.url("/v2/logout")).query(&[("returnTo", "https://evil.example/")]).send().await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn oidc_logout_uses_id_token_hint_and_echoes_state() {
    let app = TestApp::spawn().await;
    let c = app.spa().await;
    app.user("alice@example.com").await;
    let b = browser();
    let a = Authorize { client_id: &c.client_id, redirect_uri: CALLBACK, scope: "openid", audience: None, extra: vec![] };
    let (code, verifier) = app.code(&b, &a, "alice@example.com").await;
    let (_, tokens) = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &c.client_id),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", CALLBACK),
        ])
        .await;
    let back = format!("{SPA_ORIGIN}/bye");
    let r = b
        .get(app.url("/oidc/logout"))
        .query(&[("id_token_hint", tokens["id_token"].as_str().unwrap()), ("post_logout_redirect_uri", back.as_str()), ("state", "xyz")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], format!("{back}?state=xyz").as_str());
    let r = b.get(silent(&app, &c.client_id, "query", vec![])).send().await.unwrap();
    assert_eq!(param(r.headers()["location"].to_str().unwrap(), "error").as_deref(), Some("login_required"));
    let r = b
        .get(app.url("/oidc/logout"))
        .query(&[("client_id", c.client_id.as_str()), ("post_logout_redirect_uri", "https://evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = b.get(app.url("/oidc/logout")).query(&[("id_token_hint", "forged.token.here")]).send().await.unwrap();
    assert_eq!(r.status(), 400);
}
