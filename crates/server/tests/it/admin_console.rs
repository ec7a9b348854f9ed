//! Who may enter the admin console (docs/admin-console.md): its client `ratchet-admin`, set up by
//! the server; Management API tokens through `/authorize` for administrators only, and only for
//! the console; a demotion or a block takes effect at the next request.

use ratchet_server::service::manage::console::{CONSOLE_CLIENT_ID, NOT_AN_ADMINISTRATOR, console_url};
use ratchet_server::service::manage::users::UserChanges;
use ratchet_store::User;
use serde_json::Value;

use crate::support::*;

const CONSOLE_SCOPE: &str = "openid profile email offline_access read:users update:users read:clients";

impl TestApp {
    async fn administrator(&self, email: &str) -> User {
        let mut new = new_user(email, None);
        new.admin = true;
        self.state.manage.users.create(new).await.unwrap()
    }

    fn console_authorize_url(&self, challenge: &str, extra: Vec<(&'static str, String)>) -> String {
        let redirect = console_url(&self.state.issuer);
        let audience = format!("{}api/v2/", self.issuer());
        let a = Authorize { client_id: CONSOLE_CLIENT_ID, redirect_uri: &redirect, scope: CONSOLE_SCOPE, audience: Some(&audience), extra };
        self.authorize_url(&a, challenge, "st4te")
    }

    /// Signs `email` in to the console and exchanges the code; returns the token endpoint's answer.
    async fn console_sign_in(&self, b: &reqwest::Client, email: &str) -> (u16, Value) {
        let (verifier, challenge) = pkce();
        let r = self.sign_in(b, &self.console_authorize_url(&challenge, vec![]), email, PASSWORD).await;
        assert_eq!(r.status(), 302, "an administrator is sent back to the console: {:?}", r.text().await);
        let code = param(r.headers()["location"].to_str().unwrap(), "code").expect("a code");
        let redirect = console_url(&self.state.issuer);
        self.token(&[
            ("grant_type", "authorization_code"),
            ("client_id", CONSOLE_CLIENT_ID),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", &redirect),
        ])
        .await
    }
}

#[tokio::test]
async fn console_client_is_set_up_at_the_issuer_with_rotation() {
    let app = TestApp::spawn().await;
    let c = app.state.manage.clients.get(CONSOLE_CLIENT_ID).await.expect("the server creates the console's client");
    assert_eq!(c.callbacks, vec![format!("{}admin/", app.issuer())]);
    assert_eq!(c.allowed_logout_urls, c.callbacks);
    assert_eq!(c.web_origins, vec![app.base.clone()]);
    assert!(c.refresh_token.is_rotating());
    assert!(!c.app_type.is_confidential(), "a browser app: public client with PKCE");

    let off = ratchet_server::service::manage::clients::RefreshChanges {
        rotation: Some(ratchet_core::client::RotationType::NonRotating),
        ..Default::default()
    };
    let changes = ratchet_server::service::manage::clients::ClientChanges {
        refresh_token: Some(ratchet_server::service::manage::clients::RefreshUpdate::Adjust(off)),
        callbacks: Some(vec!["http://elsewhere.test/admin/".into()]),
        ..Default::default()
    };
    app.state.manage.clients.update(CONSOLE_CLIENT_ID, changes).await.unwrap();
    let c = app.state.manage.ensure_console_client().await.unwrap();
    assert!(c.refresh_token.is_rotating(), "rotation is turned back on at the next start");
    assert_eq!(c.callbacks, vec![format!("{}admin/", app.issuer())]);
}

#[tokio::test]
async fn administrator_gets_a_management_token() {
    let app = TestApp::spawn().await;
    app.administrator("root@example.com").await;
    let (status, body) = app.console_sign_in(&browser(), "root@example.com").await;
    assert_eq!(status, 200, "{body}");
    let at = body["access_token"].as_str().unwrap();
    let c = claims(at);
    assert_eq!(c["aud"][0], format!("{}api/v2/", app.issuer()));
    assert_eq!(c["azp"], CONSOLE_CLIENT_ID);
    assert_eq!(body["expires_in"], 600, "short-lived: the console renews with its refresh token");
    let scope = body["scope"].as_str().unwrap();
    for s in ["read:users", "update:users", "read:clients", "offline_access"] {
        assert!(scope.split(' ').any(|x| x == s), "{s} in {scope}");
    }
    let (status, users) = app.mgmt("GET", "/users", at, None).await;
    assert_eq!(status, 200, "the Management API accepts an administrator's token: {users}");
    let (status, denied) = app.mgmt("GET", "/logs", at, None).await;
    assert_eq!(status, 403, "only the scopes asked for: {denied}");

    let rt = body["refresh_token"].as_str().expect("the console keeps its session with a refresh token");
    let (status, refreshed) = app.token(&[("grant_type", "refresh_token"), ("client_id", CONSOLE_CLIENT_ID), ("refresh_token", rt)]).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_ne!(refreshed["refresh_token"], body["refresh_token"], "the console's refresh token rotates");
    assert_eq!(app.mgmt("GET", "/users", refreshed["access_token"].as_str().unwrap(), None).await.0, 200);
}

#[tokio::test]
async fn non_administrator_gets_no_management_token() {
    let app = TestApp::spawn().await;
    let plain = app.user("plain@example.com").await;
    let b = browser();
    let (_, challenge) = pkce();
    let r = app.sign_in(&b, &app.console_authorize_url(&challenge, vec![]), "plain@example.com", PASSWORD).await;
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("location").is_none(), "no code is sent anywhere");
    assert!(r.headers().get("set-cookie").is_none(), "and no session is started");
    let page = r.text().await.unwrap();
    assert!(page.contains("This account is not an administrator."), "a clear page: {page}");
    assert!(app.state.store.sessions_of(&plain.user_id, None, 10).await.unwrap().is_empty(), "no session row either");

    // Signed in at an ordinary application, the user has a session; it gets no code either.
    app.sign_in_with(&b, &app.spa().await, "plain@example.com").await;
    let silent = app.console_authorize_url(&challenge, vec![("prompt", "none".into())]);
    let r = b.get(&silent).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(param(&loc, "error").as_deref(), Some("access_denied"), "{loc}");
    assert_eq!(param(&loc, "error_description").as_deref(), Some(NOT_AN_ADMINISTRATOR));
    assert_eq!(param(&loc, "code"), None);
    let r = b.get(app.console_authorize_url(&challenge, vec![])).send().await.unwrap();
    assert_eq!(r.status(), 403, "nor an interactive one with the session");
    assert_eq!(app.events("f").await.iter().filter(|e| e.description == NOT_AN_ADMINISTRATOR).count(), 3, "each refusal is logged");
}

#[tokio::test]
async fn only_the_console_may_ask_for_the_management_api_at_authorize() {
    let app = TestApp::spawn().await;
    app.administrator("root@example.com").await;
    let spa = app.spa().await;
    let (_, challenge) = pkce();
    for audience in [format!("{}api/v2/", app.issuer()), app.sdk_management_audience()] {
        let a =
            Authorize { client_id: &spa.client_id, redirect_uri: CALLBACK, scope: CONSOLE_SCOPE, audience: Some(&audience), extra: vec![] };
        let r = browser().get(app.authorize_url(&a, &challenge, "s")).send().await.unwrap();
        assert_eq!(r.status(), 302);
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        assert!(loc.starts_with(CALLBACK), "{loc}");
        assert_eq!(param(&loc, "error").as_deref(), Some("access_denied"), "{loc}");
    }
}

#[tokio::test]
async fn demoted_administrator_loses_management_access_at_once() {
    let app = TestApp::spawn().await;
    let root = app.administrator("root@example.com").await;
    let (_, body) = app.console_sign_in(&browser(), "root@example.com").await;
    let at = body["access_token"].as_str().unwrap();
    let rt = body["refresh_token"].as_str().unwrap();
    app.state.manage.users.update(&root.user_id, UserChanges { admin: Some(false), ..Default::default() }).await.unwrap();

    let (status, _) = app.mgmt("GET", "/users", at, None).await;
    assert_eq!(status, 401, "the unexpired access token is refused");
    let (status, body) = app.token(&[("grant_type", "refresh_token"), ("client_id", CONSOLE_CLIENT_ID), ("refresh_token", rt)]).await;
    assert_invalid_refresh_token(status, &body, "a demoted administrator's refresh");
}

#[tokio::test]
async fn code_issued_to_an_administrator_is_refused_after_a_demotion() {
    let app = TestApp::spawn().await;
    let root = app.administrator("root@example.com").await;
    let (verifier, challenge) = pkce();
    let r = app.sign_in(&browser(), &app.console_authorize_url(&challenge, vec![]), "root@example.com", PASSWORD).await;
    let code = param(r.headers()["location"].to_str().unwrap(), "code").expect("a code");
    app.state.manage.users.update(&root.user_id, UserChanges { admin: Some(false), ..Default::default() }).await.unwrap();
    let redirect = console_url(&app.state.issuer);
    let (status, body) = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", CONSOLE_CLIENT_ID),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", &redirect),
        ])
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
}
