//! `serve --demo`: seeds a demo SPA client, a demo API, a demo user and a demo administrator of
//! the admin console (idempotently), and serves the demo SPA (`examples/spa`) on its own origin so
//! CORS and web origins are exercised.

use std::path::{Path, PathBuf};

use anyhow::Context;
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ratchet_core::client::AppType;
use serde_json::json;

use crate::app::AppState;
use crate::config::DemoConfig;
use crate::service::manage::ManageError;
use crate::service::manage::apis::NewApi;
use crate::service::manage::clients::{ClientChanges, ClientSpec};
use crate::service::manage::users::{CONNECTION, NewUser, UserChanges};
use ratchet_core::secret::Secret;

pub const DEMO_CLIENT_ID: &str = "ratchet-demo-spa";
pub const DEMO_EMAIL: &str = "demo@example.com";
pub const DEMO_PASSWORD: &str = "ratchet-demo";
pub const DEMO_AUDIENCE: &str = "https://api.ratchet.demo";
pub const DEMO_ADMIN_EMAIL: &str = "admin@example.com";
pub const DEMO_ADMIN_PASSWORD: &str = "ratchet-admin";

/// Seeds the demo data and starts the demo SPA server; prints where to go.
pub async fn start(state: &AppState, demo: &DemoConfig) -> anyhow::Result<()> {
    let listener =
        tokio::net::TcpListener::bind(demo.listen).await.with_context(|| format!("cannot listen on {} for the demo SPA", demo.listen))?;
    let spa = format!("http://{}", listener.local_addr()?);
    seed(state, &spa).await?;
    let site = Site {
        root: demo.root.clone(),
        config: json!({"domain": state.iss().trim_end_matches('/'), "client_id": DEMO_CLIENT_ID, "audience": DEMO_AUDIENCE}),
    };
    let router = Router::new().route("/", get(index)).route("/config.json", get(config)).route("/{*path}", get(file)).with_state(site);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "demo SPA server stopped");
        }
    });
    println!("demo SPA:       {spa}/");
    println!("demo client_id: {DEMO_CLIENT_ID}");
    println!("demo user:      {DEMO_EMAIL} / {DEMO_PASSWORD}");
    println!("admin console:  {}", crate::service::manage::console::console_url(&state.issuer));
    println!("demo admin:     {DEMO_ADMIN_EMAIL} / {DEMO_ADMIN_PASSWORD}");
    if !demo.root.join("examples/spa/index.html").exists() {
        println!("warning: {} has no examples/spa; pass --demo-root <repository root>", demo.root.display());
    }
    Ok(())
}

async fn seed(state: &AppState, spa_origin: &str) -> anyhow::Result<()> {
    let localhost = spa_origin.replace("127.0.0.1", "localhost");
    // With and without the slash: the seed's default redirect_uri is `window.location.origin`.
    let urls = vec![format!("{spa_origin}/"), format!("{localhost}/"), spa_origin.to_string(), localhost.clone()];
    let web_origins = vec![spa_origin.to_string(), localhost.clone()];
    let m = &state.manage;
    match m.clients.get(DEMO_CLIENT_ID).await {
        // Keep its settings; follow the demo SPA's address.
        Ok(_) => {
            let changes = ClientChanges {
                name: Some("Ratchet demo SPA".into()),
                callbacks: Some(urls.clone()),
                allowed_logout_urls: Some(urls),
                web_origins: Some(web_origins),
                ..Default::default()
            };
            m.clients.update(DEMO_CLIENT_ID, changes).await?;
        }
        Err(ManageError::NotFound(_)) => {
            let spec = ClientSpec {
                name: "Ratchet demo SPA".into(),
                app_type: Some(AppType::Spa),
                callbacks: urls.clone(),
                allowed_logout_urls: urls,
                web_origins,
                ..Default::default()
            };
            m.clients.create_with_id(DEMO_CLIENT_ID.into(), spec).await?;
        }
        Err(e) => return Err(e.into()),
    }
    match m.apis.get(DEMO_AUDIENCE).await {
        Ok(_) => {}
        Err(ManageError::NotFound(_)) => {
            let api = NewApi {
                identifier: DEMO_AUDIENCE.into(),
                name: Some("Ratchet demo API".into()),
                allow_offline_access: true,
                token_lifetime: Some(120),
                ..Default::default()
            };
            m.apis.create(api).await?;
        }
        Err(e) => return Err(e.into()),
    }
    seed_user(state, DEMO_EMAIL, DEMO_PASSWORD, "Demo User", false).await?;
    seed_user(state, DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, "Demo Administrator", true).await
}

/// Creates the user if the email is free; makes an existing one an administrator if `admin`.
async fn seed_user(state: &AppState, email: &str, password: &str, name: &str, admin: bool) -> anyhow::Result<()> {
    let users = &state.manage.users;
    match state.store.user_by_email(email).await? {
        Some(u) if admin && !u.admin => {
            users.update(&u.user_id, UserChanges { admin: Some(true), ..Default::default() }).await?;
        }
        Some(_) => {}
        None => {
            let user = NewUser {
                connection: CONNECTION.into(),
                email: email.into(),
                password: Secret::new(password),
                name: Some(name.into()),
                blocked: false,
                admin,
                email_verified: true,
                user_metadata: Default::default(),
                app_metadata: Default::default(),
            };
            users.create(user).await.map_err(|e| anyhow::anyhow!("cannot create the demo user {email}: {e}"))?;
        }
    }
    Ok(())
}

#[derive(Clone)]
struct Site {
    root: PathBuf,
    config: serde_json::Value,
}

async fn index(State(site): State<Site>) -> Response {
    serve_file(&site.root.join("examples/spa/index.html")).await
}

async fn config(State(site): State<Site>) -> Response {
    axum::Json(site.config).into_response()
}

async fn file(State(site): State<Site>, UrlPath(path): UrlPath<String>) -> Response {
    // The SDK bundle and its DPoP chunk (imported by the bundle, next to it, with `useDpop`).
    if path == "ratchet-spa.js" || path == "ratchet-spa-dpop.js" {
        return serve_file(&site.root.join("sdk/spa-js/dist").join(&path)).await;
    }
    let safe = !path.is_empty()
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && !seg.starts_with('.') && seg.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
    if !safe {
        return StatusCode::NOT_FOUND.into_response();
    }
    serve_file(&site.root.join("examples/spa").join(path)).await
}

async fn serve_file(path: &Path) -> Response {
    let Ok(bytes) = tokio::fs::read(path).await else {
        return (StatusCode::NOT_FOUND, "not found (build the SDK with: npm --prefix sdk/spa-js run build)").into_response();
    };
    let ct = match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    let mut res = bytes.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}
