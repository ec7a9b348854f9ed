//! The `ratchet` command line (DESIGN §2, a contract): every flag has a `RATCHET_*` twin and
//! `--json` prints exactly one JSON object on stdout.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use ratchet_core::client::{
    Api, AppType, AudiencePolicy, Client, ExpirationType, NewClient, RefreshTokenPolicy, RotationType, normalize_origins,
};
use ratchet_core::secret::{hash, random_id, random_token};
use ratchet_store::{EventQuery, Store, User};
use serde_json::{Value, json};

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, DemoConfig, ManagementConfig, parse_issuer};

#[derive(Parser, Debug)]
#[command(name = "ratchet", version, about = "A self-hosted OAuth 2.0 / OpenID Connect server with refresh-token rotation")]
pub struct Cli {
    /// Database URL: sqlite://path/to/file.db (created on first run) or postgres://user@host:port/db.
    #[arg(long, global = true, env = "RATCHET_DATABASE_URL", default_value = "sqlite://ratchet.db")]
    pub database: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage applications.
    #[command(subcommand)]
    Clients(ClientsCmd),
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCmd),
    /// Manage APIs (resource servers).
    #[command(subcommand)]
    Apis(ApisCmd),
    /// Read the audit trail (newest first).
    Logs(LogsArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[arg(long, env = "RATCHET_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// The issuer URL (default: http://<listen>/, with the trailing slash).
    #[arg(long, env = "RATCHET_ISSUER")]
    pub issuer: Option<String>,
    /// Seed a demo SPA client and user, and serve the demo SPA.
    #[arg(long, env = "RATCHET_DEMO")]
    pub demo: bool,
    /// Where the demo SPA is served (its own origin).
    #[arg(long, env = "RATCHET_DEMO_LISTEN", default_value = "127.0.0.1:3001")]
    pub demo_listen: SocketAddr,
    /// The repository root holding examples/spa and sdk/spa-js/dist.
    #[arg(long, env = "RATCHET_DEMO_ROOT", default_value = ".")]
    pub demo_root: PathBuf,
    /// Management API requests per second per caller (sustained and burst); beyond it, 429.
    #[arg(long, env = "RATCHET_MANAGEMENT_RATE_LIMIT", default_value_t = 50)]
    pub management_rate_limit: u32,
    /// A browser origin allowed to call the Management API (CORS); repeatable, none by default.
    #[arg(long = "management-cors-origin", env = "RATCHET_MANAGEMENT_CORS_ORIGINS", value_delimiter = ',')]
    pub management_cors_origins: Vec<String>,
}

#[derive(Args, Debug, Default, Clone)]
pub struct RefreshFlags {
    /// rotating | non-rotating
    #[arg(long, env = "RATCHET_ROTATION")]
    pub rotation: Option<String>,
    /// Seconds during which the previous refresh token yields the same successor (0 = off).
    #[arg(long, env = "RATCHET_LEEWAY")]
    pub leeway: Option<u32>,
    /// Absolute lifetime of a refresh-token family, in seconds.
    #[arg(long, env = "RATCHET_ABSOLUTE_LIFETIME")]
    pub absolute_lifetime: Option<u32>,
    /// Inactivity lifetime, in seconds.
    #[arg(long, env = "RATCHET_IDLE_LIFETIME")]
    pub idle_lifetime: Option<u32>,
    /// Non-expiring refresh tokens (non-rotating, non-SPA clients only).
    #[arg(long)]
    pub non_expiring: bool,
    /// AUDIENCE=SCOPE1,SCOPE2: refresh tokens may also obtain access tokens for this API
    /// (multi-resource refresh tokens, `refresh_token.policies`). Repeatable; replaces the list.
    #[arg(long = "refresh-policy", value_name = "AUDIENCE=SCOPES")]
    pub refresh_policies: Vec<String>,
}

/// A client's URL lists (Allowed Callback URLs, Allowed Logout URLs, Allowed Web Origins).
#[derive(Args, Debug, Default, Clone)]
pub struct UrlFlags {
    #[arg(long = "callback")]
    pub callbacks: Vec<String>,
    #[arg(long = "logout-url")]
    pub logout_urls: Vec<String>,
    #[arg(long = "web-origin")]
    pub web_origins: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum ClientsCmd {
    Create {
        #[arg(long)]
        name: String,
        /// spa | regular | native | m2m
        #[arg(long = "type", default_value = "spa")]
        app_type: String,
        #[command(flatten)]
        urls: UrlFlags,
        #[command(flatten)]
        refresh: RefreshFlags,
        #[arg(long)]
        json: bool,
    },
    /// Change a client's refresh-token settings or URLs (lists replace the old ones when given).
    Update {
        id: String,
        #[command(flatten)]
        urls: UrlFlags,
        #[command(flatten)]
        refresh: RefreshFlags,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    Delete {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum UsersCmd {
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, env = "RATCHET_USER_PASSWORD")]
        password: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Block a user: ends their sessions and revokes their refresh tokens.
    Block {
        id: String,
    },
    Unblock {
        id: String,
    },
    /// Delete a user and revoke everything issued to them.
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApisCmd {
    Create {
        #[arg(long)]
        audience: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        allow_offline_access: bool,
        /// Access-token lifetime in seconds (default 86400).
        #[arg(long)]
        token_lifetime: Option<u32>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    #[arg(long = "type")]
    pub kind: Option<String>,
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}

impl RefreshFlags {
    /// Applies the flags to `policy` with Auth0's coupling: rotation implies expiring; a lifetime
    /// given makes the policy expiring with that lifetime.
    pub fn apply(&self, mut p: RefreshTokenPolicy) -> anyhow::Result<RefreshTokenPolicy> {
        match self.rotation.as_deref() {
            None => {}
            Some("rotating") => {
                p.rotation_type = RotationType::Rotating;
                if p.expiration_type == ExpirationType::NonExpiring {
                    let d = RefreshTokenPolicy::rotating_default();
                    (p.expiration_type, p.infinite_token_lifetime, p.infinite_idle_token_lifetime) =
                        (d.expiration_type, d.infinite_token_lifetime, d.infinite_idle_token_lifetime);
                }
            }
            Some("non-rotating") => p.rotation_type = RotationType::NonRotating,
            Some(other) => bail!("--rotation must be rotating or non-rotating, not {other}"),
        }
        if let Some(l) = self.leeway {
            p.leeway = l;
        }
        if let Some(a) = self.absolute_lifetime {
            (p.expiration_type, p.token_lifetime, p.infinite_token_lifetime) = (ExpirationType::Expiring, a, false);
        }
        if let Some(i) = self.idle_lifetime {
            (p.expiration_type, p.idle_token_lifetime, p.infinite_idle_token_lifetime) = (ExpirationType::Expiring, i, false);
        }
        if self.non_expiring {
            (p.expiration_type, p.infinite_token_lifetime, p.infinite_idle_token_lifetime) = (ExpirationType::NonExpiring, true, true);
        }
        if !self.refresh_policies.is_empty() {
            p.policies = self.refresh_policies.iter().map(|s| parse_refresh_policy(s)).collect::<anyhow::Result<_>>()?;
        }
        Ok(p)
    }
}

/// `AUDIENCE=SCOPE1,SCOPE2` (scopes may be empty: `AUDIENCE=`).
fn parse_refresh_policy(s: &str) -> anyhow::Result<AudiencePolicy> {
    let Some((audience, scopes)) = s.split_once('=') else { bail!("--refresh-policy must be AUDIENCE=SCOPE1,SCOPE2, not {s}") };
    let scope = scopes.split(',').map(str::trim).filter(|x| !x.is_empty()).map(String::from).collect();
    let p = AudiencePolicy { audience: audience.trim().to_string(), scope };
    p.validate()?;
    Ok(p)
}

fn print(json_out: bool, v: &Value, human: impl FnOnce() -> String) {
    if json_out {
        println!("{v}");
    } else {
        println!("{}", human());
    }
}

fn client_json(c: &Client, secret: Option<&str>) -> Value {
    let mut v = serde_json::to_value(c).expect("clients serialise");
    if let Some(s) = secret {
        v["client_secret"] = Value::from(s);
    }
    v
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Serve(args) => serve(cli.database, args, clock).await,
        Command::Migrate => {
            ratchet_store::open(&cli.database).await?;
            println!("database is up to date: {}", ratchet_store::redact_url(&cli.database));
            Ok(())
        }
        Command::Clients(cmd) => clients(&*ratchet_store::open(&cli.database).await?, cmd, clock.now()).await,
        Command::Users(cmd) => users(&*ratchet_store::open(&cli.database).await?, cmd, clock.now()).await,
        Command::Apis(ApisCmd::Create { audience, name, allow_offline_access, token_lifetime, json }) => {
            let store = ratchet_store::open(&cli.database).await?;
            let api = Api::new(random_id("api_"), audience, name, allow_offline_access, token_lifetime)?;
            store.insert_api(&api).await.context("cannot create the API")?;
            print(json, &serde_json::to_value(&api)?, || format!("created API {} ({})", api.identifier, api.id));
            Ok(())
        }
        Command::Logs(args) => {
            let store = ratchet_store::open(&cli.database).await?;
            let events = store.events(&EventQuery { kind: args.kind, user_id: args.user, limit: args.limit }).await?;
            let items: Vec<Value> = events
                .iter()
                .map(|e| json!({"date": e.at, "type": e.kind, "description": e.description, "client_id": e.client_id, "user_id": e.user_id, "details": e.details}))
                .collect();
            if args.json {
                println!("{}", json!({"logs": items}));
            } else {
                for e in &events {
                    println!("{}\t{}\t{}\t{}\t{}", e.at, e.kind, e.user_id.as_deref().unwrap_or("-"), e.description, e.details);
                }
            }
            Ok(())
        }
    }
}

async fn clients(store: &dyn Store, cmd: ClientsCmd, now: i64) -> anyhow::Result<()> {
    match cmd {
        ClientsCmd::Create { name, app_type, urls, refresh, json } => {
            let app_type = AppType::parse(&app_type)?;
            let mut client = Client::new(
                hex::encode(ratchet_core::secret::random_bytes::<16>()),
                NewClient {
                    name,
                    app_type: Some(app_type),
                    callbacks: urls.callbacks,
                    logout_urls: urls.logout_urls,
                    web_origins: urls.web_origins,
                },
                now,
            )?;
            client.refresh_token = refresh.apply(client.refresh_token)?;
            client.validate()?;
            let secret = app_type.is_confidential().then(random_token);
            store.insert_client(&client, secret.as_deref().map(hash).as_deref()).await?;
            print(json, &client_json(&client, secret.as_deref()), || {
                let mut s = format!(
                    "created {} client {} ({})",
                    serde_json::to_value(client.app_type).unwrap_or_default(),
                    client.client_id,
                    client.name
                );
                if let Some(sec) = &secret {
                    s.push_str(&format!("\nclient_secret: {sec}\n(shown once; only its hash is stored)"));
                }
                s
            });
            Ok(())
        }
        ClientsCmd::Update { id, urls, refresh, json } => {
            let mut client = store.client(&id).await?.context("no such client")?.client;
            if !urls.callbacks.is_empty() {
                client.callbacks = urls.callbacks;
            }
            if !urls.logout_urls.is_empty() {
                client.allowed_logout_urls = urls.logout_urls;
            }
            if !urls.web_origins.is_empty() {
                client.web_origins = normalize_origins(&urls.web_origins);
            }
            client.refresh_token = refresh.apply(client.refresh_token)?;
            client.validate()?;
            store.update_client(&client).await?;
            print(json, &client_json(&client, None), || format!("updated client {}", client.client_id));
            Ok(())
        }
        ClientsCmd::List { json } => {
            let all = store.clients().await?;
            print(json, &json!({"clients": all.iter().map(|c| client_json(c, None)).collect::<Vec<_>>()}), || {
                all.iter()
                    .map(|c| format!("{}\t{}\t{}", c.client_id, serde_json::to_value(c.app_type).unwrap_or_default(), c.name))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        ClientsCmd::Show { id, json } => {
            let c = store.client(&id).await?.context("no such client")?.client;
            let v = client_json(&c, None);
            print(json, &v, || serde_json::to_string_pretty(&v).unwrap_or_default());
            Ok(())
        }
        ClientsCmd::Delete { id, json } => {
            if !store.delete_client(&id, now).await? {
                bail!("no such client");
            }
            print(json, &json!({"client_id": id, "deleted": true}), || format!("deleted client {id} and revoked its refresh tokens"));
            Ok(())
        }
    }
}

/// Validates and stores a new user (password hashed with Argon2id).
pub async fn create_user(store: &dyn Store, email: &str, password: &str, name: Option<String>, now: i64) -> anyhow::Result<User> {
    let email = email.trim().to_lowercase();
    if email.len() > 254 || !email.contains('@') || email.starts_with('@') || email.ends_with('@') || email.chars().any(char::is_whitespace)
    {
        bail!("--email must be an email address");
    }
    if password.chars().count() < 8 || password.len() > 1024 {
        bail!("--password must be 8 to 1024 characters");
    }
    let password_hash = ratchet_core::password::hash_password(password)?;
    let user = User {
        user_id: random_id("ratchet|"),
        name: name.unwrap_or_else(|| email.clone()),
        email,
        password_hash,
        blocked: false,
        created_at: now,
    };
    store.insert_user(&user).await.context("cannot create the user")?;
    Ok(user)
}

async fn users(store: &dyn Store, cmd: UsersCmd, now: i64) -> anyhow::Result<()> {
    match cmd {
        UsersCmd::Create { email, password, name, json } => {
            let u = create_user(store, &email, &password, name, now).await?;
            print(json, &json!({"user_id": u.user_id, "email": u.email, "name": u.name}), || {
                format!("created user {} ({})", u.user_id, u.email)
            });
        }
        UsersCmd::Block { id } => {
            if !store.set_user_blocked(&id, true, now).await? {
                bail!("no such user");
            }
            println!("blocked {id}; sessions ended and refresh tokens revoked");
        }
        UsersCmd::Unblock { id } => {
            if !store.set_user_blocked(&id, false, now).await? {
                bail!("no such user");
            }
            println!("unblocked {id}");
        }
        UsersCmd::Delete { id } => {
            if !store.delete_user(&id, now).await? {
                bail!("no such user");
            }
            println!("deleted {id} and revoked their refresh tokens");
        }
    }
    Ok(())
}

async fn serve(database: String, args: ServeArgs, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    let config = Config {
        listen: args.listen,
        database_url: database,
        issuer: args.issuer.as_deref().map(parse_issuer).transpose()?,
        master_key: std::env::var("RATCHET_MASTER_KEY").ok().filter(|k| !k.trim().is_empty()),
        demo: args.demo.then(|| DemoConfig { listen: args.demo_listen, root: args.demo_root.clone() }),
        management: ManagementConfig {
            rate_limit: args.management_rate_limit.max(1),
            cors_origins: normalize_origins(&args.management_cors_origins),
        },
    };
    let app = crate::Application::build(config.clone(), clock.clone()).await?;
    let state = app.state.clone();
    println!("listening on http://{}/", app.address());
    if state.iss() != format!("http://{}/", app.address()) {
        println!("issuer: {}", state.iss());
    }
    if let Some(demo) = &config.demo {
        crate::demo::start(&state, demo).await?;
    }
    tokio::spawn(crate::demo::purge_periodically(state.clone()));
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
