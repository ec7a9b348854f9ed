//! The in-process test app (zero2prod style): a real server on port 0 with its own SQLite file and
//! a manual clock, plus a browser-like HTTP client that keeps cookies and does not follow redirects.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ratchet_core::client::{AppType, Client, NewClient, RefreshTokenPolicy};
use ratchet_server::{AppState, Application, Clock, Config, ManualClock};
use ratchet_store::User;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const MASTER_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
pub const PASSWORD: &str = "correct horse battery";
pub const SPA_ORIGIN: &str = "http://spa.test:8080";
pub const CALLBACK: &str = "http://spa.test:8080/callback";

pub struct TestApp {
    pub base: String,
    pub clock: ManualClock,
    pub state: AppState,
    pub db_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// A fresh PKCE pair.
pub fn pkce() -> (String, String) {
    let verifier = ratchet_core::secret::random_token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// A browser: cookies on, redirects off.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Decodes a JWT's claims without verifying (tests verify signatures separately).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The value of query or fragment parameter `k` of a URL.
pub fn param(url: &str, k: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let from_query = u.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
    from_query.or_else(|| form_urlencoded::parse(u.fragment()?.as_bytes()).find(|(n, _)| n == k).map(|(_, v)| v.into_owned()))
}

pub struct Authorize<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub audience: Option<&'a str>,
    pub extra: Vec<(&'a str, String)>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Starts the app with `tune` applied to its configuration first.
    pub async fn spawn_with(tune: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("ratchet.db");
        // Start at the real time so relying-party libraries that check iat/exp agree.
        let clock = ManualClock::new(ratchet_server::SystemClock.now());
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: format!("sqlite://{}", db_path.display()),
            issuer: None,
            master_key: Some(MASTER_KEY.into()),
            demo: None,
            management: Default::default(),
            dpop: Default::default(),
            trusted_proxies: Default::default(),
            connections: Default::default(),
            metrics_token: None,
            // The fixtures register http://spa.test:8080 callbacks through the Management API;
            // `non_loopback_http_callbacks_are_refused_at_registration` turns this off.
            allow_insecure_callbacks: true,
            key_reload_interval: std::time::Duration::from_secs(ratchet_server::config::DEFAULT_KEY_RELOAD_INTERVAL),
        };
        let mut config = config;
        tune(&mut config);
        let app = Application::build(config, Arc::new(clock.clone())).await.expect("app builds");
        let base = format!("http://{}", app.address());
        let state = app.state.clone();
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        TestApp { base, clock, state, db_path, _dir: dir }
    }

    /// A Management API access token for `client_id` with `scopes`, as the `client_credentials`
    /// grant issues it (signed by the server's key; audience `{issuer}api/v2/`).
    pub fn management_token(&self, client_id: &str, scopes: &[&str]) -> String {
        self.token_for(client_id, &format!("{}api/v2/", self.issuer()), scopes)
    }

    /// An access token for `audience` signed by the server's key.
    pub fn token_for(&self, client_id: &str, audience: &str, scopes: &[&str]) -> String {
        let now = self.clock.now();
        let claims = serde_json::json!({
            "iss": self.issuer(), "sub": format!("{client_id}@clients"), "aud": audience, "iat": now, "exp": now + 3600,
            "scope": scopes.join(" "), "gty": "client-credentials", "azp": client_id,
        });
        self.state.keys.current().signing.sign(ratchet_core::jws::SigningAlg::RS256, &claims).unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn issuer(&self) -> String {
        format!("{}/", self.base)
    }

    /// Registers a client of `app_type` with the test callback and origin; `tune` adjusts it.
    pub async fn client_with(&self, app_type: AppType, tune: impl FnOnce(&mut Client)) -> (Client, Option<String>) {
        let mut c = Client::new(
            hex::encode(ratchet_core::secret::random_bytes::<16>()),
            NewClient {
                name: "Test app".into(),
                app_type: Some(app_type),
                callbacks: vec![CALLBACK.into()],
                logout_urls: vec![format!("{SPA_ORIGIN}/bye")],
                web_origins: vec![SPA_ORIGIN.into()],
            },
            self.clock.now(),
        )
        .unwrap();
        tune(&mut c);
        c.validate().unwrap();
        let secret = app_type.is_confidential().then(ratchet_core::secret::random_token);
        self.state.store.insert_client(&c, secret.as_deref().map(ratchet_core::secret::hash).as_deref()).await.unwrap();
        (c, secret)
    }

    pub async fn spa(&self) -> Client {
        self.client_with(AppType::Spa, |_| {}).await.0
    }

    pub async fn spa_with_policy(&self, tune: impl FnOnce(&mut RefreshTokenPolicy)) -> Client {
        self.client_with(AppType::Spa, |c| tune(&mut c.refresh_token)).await.0
    }

    pub async fn user(&self, email: &str) -> User {
        self.state.manage.users.create(new_user(email, Some("Test User"))).await.unwrap()
    }

    pub async fn api(&self, audience: &str, offline: bool) {
        let api = ratchet_core::client::Api::new(format!("api_{audience}"), audience.into(), None, offline, Some(3600)).unwrap();
        self.state.store.insert_api(&api).await.unwrap();
    }

    pub fn authorize_url(&self, a: &Authorize<'_>, challenge: &str, state: &str) -> String {
        let mut u = url::Url::parse(&self.url("/authorize")).unwrap();
        {
            let mut q = u.query_pairs_mut();
            q.append_pair("client_id", a.client_id)
                .append_pair("redirect_uri", a.redirect_uri)
                .append_pair("response_type", "code")
                .append_pair("scope", a.scope)
                .append_pair("state", state)
                .append_pair("nonce", "n-0S6_WzA2Mj")
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(aud) = a.audience {
                q.append_pair("audience", aud);
            }
            for (k, v) in &a.extra {
                q.append_pair(k, v);
            }
        }
        u.to_string()
    }

    /// Follows `/authorize` through the login form as `email` in `browser`; returns the final
    /// redirect location (to the client's callback).
    pub async fn sign_in(&self, browser: &reqwest::Client, authorize_url: &str, email: &str, password: &str) -> reqwest::Response {
        let r = browser.get(authorize_url).send().await.unwrap();
        assert_eq!(r.status(), 302, "authorize redirects to login");
        let login = r.headers()["location"].to_str().unwrap().to_string();
        assert!(login.starts_with("/u/login?state="), "{login}");
        let page = browser.get(self.url(&login)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        let tx = html.split("name=\"state\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        browser
            .post(self.url("/u/login"))
            .header("origin", &self.base)
            .form(&[("state", tx.as_str()), ("username", email), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    /// Signs in and returns `(code, verifier)`.
    pub async fn code(&self, browser: &reqwest::Client, a: &Authorize<'_>, email: &str) -> (String, String) {
        let (verifier, challenge) = pkce();
        let r = self.sign_in(browser, &self.authorize_url(a, &challenge, "st4te"), email, PASSWORD).await;
        assert_eq!(r.status(), 302, "login redirects back: {:?}", r.text().await);
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(param(&loc, "state").as_deref(), Some("st4te"));
        (param(&loc, "code").expect("a code"), verifier)
    }

    /// `POST /oauth/token` with a form body.
    pub async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let r = reqwest::Client::new().post(self.url("/oauth/token")).form(form).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Exchanges `code` at the token endpoint for a public `client`; returns the token response.
    pub async fn exchange(&self, client: &Client, code: &str, verifier: &str) -> Value {
        let (status, body) = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("client_id", &client.client_id),
                ("code", code),
                ("code_verifier", verifier),
                ("redirect_uri", CALLBACK),
            ])
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The refresh token of a code exchange.
    pub async fn exchange_for_refresh_token(&self, client: &Client, code: &str, verifier: &str) -> String {
        self.exchange(client, code, verifier).await["refresh_token"].as_str().expect("a refresh token").to_string()
    }

    /// Signs `email` in at `client` and exchanges the code; returns the token response.
    pub async fn sign_in_tokens(&self, client: &Client, email: &str, scope: &str, audience: Option<&str>) -> Value {
        let b = browser();
        let a = Authorize { client_id: &client.client_id, redirect_uri: CALLBACK, scope, audience, extra: vec![] };
        let (code, verifier) = self.code(&b, &a, email).await;
        self.exchange(client, &code, &verifier).await
    }

    /// A refresh token for a fresh sign-in at `client`.
    pub async fn refresh_token(&self, client: &Client, email: &str) -> String {
        let body = self.sign_in_tokens(client, email, "openid profile email offline_access", None).await;
        body["refresh_token"].as_str().expect("a refresh token").to_string()
    }

    /// `grant_type=refresh_token` for a public client.
    pub async fn refresh(&self, client: &Client, rt: &str) -> (u16, Value) {
        self.token(&[("grant_type", "refresh_token"), ("client_id", &client.client_id), ("refresh_token", rt)]).await
    }

    /// Audit events of `kind`, newest first.
    pub async fn events(&self, kind: &str) -> Vec<ratchet_store::Event> {
        // Successes are written in the background; wait for what was queued so far.
        self.state.flush_audit().await;
        self.state.store.events(&ratchet_store::EventQuery { kind: Some(kind.into()), user_id: None, limit: 1000 }).await.unwrap()
    }
}

/// `Clock::now` without importing the trait in every test module.
pub trait NowForTests {
    fn now_for_tests(&self) -> i64;
}

impl NowForTests for ManualClock {
    fn now_for_tests(&self) -> i64 {
        self.now()
    }
}

// ---- Refresh-token rotation helpers (rotation, revocation, rotation_model, storage) ----

/// The one answer for every refused refresh token (Auth0's exact wording, DESIGN §3).
pub fn invalid_refresh_token_body() -> Value {
    serde_json::json!({"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."})
}

/// Asserts `(status, body)` is exactly `403 {"error":"invalid_grant","error_description":"Unknown or invalid refresh token."}`.
#[track_caller]
pub fn assert_invalid_refresh_token(status: u16, body: &Value, context: &str) {
    assert_eq!((status, body), (403, &invalid_refresh_token_body()), "{context}");
}

impl TestApp {
    /// The stored family of a refresh token this server issued (panics on an unknown token).
    pub async fn family_of(&self, rt: &str) -> ratchet_core::family::Family {
        let (id, _) = self.state.keys.current().refresh.decode(rt).expect("a token issued by this server");
        self.state.store.family(&id).await.unwrap().expect("its family is stored")
    }

    /// `POST /oauth/token` with a form body and extra request headers (e.g. `Origin`).
    pub async fn token_with_headers(&self, form: &[(&str, &str)], headers: &[(&str, &str)]) -> (u16, Value) {
        let mut req = reqwest::Client::new().post(self.url("/oauth/token")).form(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The value of `ratchet_events_total{type="kind"}` on `/metrics` (0 when absent).
    pub async fn metric(&self, kind: &str) -> u64 {
        let text = reqwest::get(self.url("/metrics")).await.unwrap().text().await.unwrap();
        let prefix = format!("ratchet_events_total{{type=\"{kind}\"}} ");
        text.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0, |v| v.trim().parse().unwrap())
    }
}

/// A new user with the test password, through the management layer's input.
pub fn new_user(email: &str, name: Option<&str>) -> ratchet_server::service::manage::users::NewUser {
    ratchet_server::service::manage::users::NewUser {
        connection: ratchet_server::service::manage::users::CONNECTION.into(),
        email: email.into(),
        password: ratchet_core::secret::Secret::new(PASSWORD),
        name: name.map(Into::into),
        blocked: false,
        admin: false,
        email_verified: false,
        user_metadata: Default::default(),
        app_metadata: Default::default(),
    }
}

/// The percent-encoded form of a user id in a path (`ratchet|x` → `ratchet%7Cx`).
pub fn enc(id: &str) -> String {
    id.replace('|', "%7C")
}

impl TestApp {
    /// A Management API request with `token`; returns the status and the JSON body (`Null` when
    /// empty).
    pub async fn mgmt(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = reqwest::Client::new().request(method, self.url(&format!("/api/v2{path}"))).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    /// Signs `email` in at `client` in `browser` (which keeps the session cookie); returns the
    /// token response (with a refresh token and an ID token carrying the session's `sid`).
    pub async fn sign_in_with(&self, b: &reqwest::Client, client: &Client, email: &str) -> Value {
        let a = Authorize {
            client_id: &client.client_id,
            redirect_uri: CALLBACK,
            scope: "openid profile email offline_access",
            audience: None,
            extra: vec![],
        };
        let (code, verifier) = self.code(b, &a, email).await;
        self.exchange(client, &code, &verifier).await
    }
}

// ---- Machine-to-machine clients, client grants and management tokens ----

impl TestApp {
    /// The Management API audience as Auth0's SDKs spell it: `https://{host:port}/api/v2/`.
    pub fn sdk_management_audience(&self) -> String {
        format!("{}/api/v2/", self.base.replacen("http://", "https://", 1))
    }

    /// A new machine-to-machine client with a grant for `audience` with `scopes`; returns its id
    /// and secret.
    pub async fn m2m_client(&self, audience: &str, scopes: &[&str]) -> (String, String) {
        let (c, secret) = self.client_with(AppType::NonInteractive, |_| {}).await;
        let new = ratchet_server::service::manage::client_grants::NewClientGrant {
            client_id: c.client_id.clone(),
            audience: audience.to_string(),
            scope: scopes.iter().map(|s| s.to_string()).collect(),
        };
        self.state.manage.client_grants.create(new).await.expect("the client grant is created");
        (c.client_id, secret.expect("a confidential client"))
    }

    /// `client_credentials` for `audience` (with `scope` when given); returns the response.
    pub async fn client_credentials(&self, client_id: &str, secret: &str, audience: &str, scope: Option<&str>) -> (u16, Value) {
        let mut form =
            vec![("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret), ("audience", audience)];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        self.token(&form).await
    }

    /// A Management API access token (audience as the SDKs ask for it) with `scopes`.
    pub async fn m2m_management_token(&self, scopes: &[&str]) -> String {
        let audience = self.sdk_management_audience();
        let (id, secret) = self.m2m_client(&audience, scopes).await;
        let (status, body) = self.client_credentials(&id, &secret, &audience, None).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }
}

/// `openidconnect`'s HTTP client, backed by reqwest.
pub async fn openidconnect_http(req: openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let mut builder = client.request(req.method().clone(), req.uri().to_string()).body(req.body().clone());
    for (k, v) in req.headers() {
        builder = builder.header(k, v);
    }
    let res = builder.send().await?;
    let mut out = openidconnect::http::Response::builder().status(res.status());
    for (k, v) in res.headers() {
        out = out.header(k, v);
    }
    Ok(out.body(res.bytes().await?.to_vec()).expect("valid response"))
}
