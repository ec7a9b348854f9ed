//! The `ratchet` command line (DESIGN §2, a contract): every flag has a `RATCHET_*` twin and
//! `--json` prints exactly one JSON object on stdout.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Parser, Subcommand};
use ratchet_core::client::{ApiScope, AppType, AudiencePolicy, Client, RotationType, normalize_origins};
use ratchet_core::jws::SigningAlg;
use ratchet_core::secret::Secret;
use ratchet_store::{ClientGrant, ClientGrantFilter, Store, User};
use serde_json::{Value, json};

use crate::clock::{Clock, SystemClock};
use crate::config::{
    Config, ConnectionLimits, DEFAULT_KEY_RELOAD_INTERVAL, DemoConfig, DpopConfig, ManagementConfig, TrustedProxies, key_file_for,
    parse_issuer,
};
use crate::keys::KeyKind;
use crate::service::keys::{DEFAULT_PREPUBLISH, KeyService, KeyView};
use crate::service::manage::apis::{ApiChanges, NewApi, ResourceServer};
use crate::service::manage::client_grants::NewClientGrant;
use crate::service::manage::clients::{ClientChanges, ClientSpec, RefreshChanges, RefreshUpdate, WithSecret};
use crate::service::manage::logs::{LogService, parse_search};
use crate::service::manage::refresh_tokens::RevokeTarget;
use crate::service::manage::sessions::SessionView;
use crate::service::manage::users::{CONNECTION, NewUser, UserChanges, UserView};
use crate::service::manage::{Checkpoint, Chunk, ManageError, Management, Page, Resource};

#[derive(Parser, Debug)]
#[command(name = "ratchet", version, about = "A self-hosted OAuth 2.0 / OpenID Connect server with refresh-token rotation")]
pub struct Cli {
    /// Database URL: sqlite://path/to/file.db (created on first run) or postgres://user@host:port/db.
    #[arg(long, global = true, env = "RATCHET_DATABASE_URL", default_value = "sqlite://ratchet.db")]
    pub database: String,
    /// Accept http:// callback URLs on hosts other than localhost/loopback when registering
    /// clients (development only: authorization codes would cross the network in the clear).
    #[arg(long, global = true, env = "RATCHET_ALLOW_INSECURE_CALLBACKS")]
    pub allow_insecure_callbacks: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Delete now what can never be used again (expired codes and sessions, long-dead refresh
    /// tokens, old audit events); every running server also does this every ten minutes.
    Purge {
        /// Print {"purged": N}.
        #[arg(long)]
        json: bool,
    },
    /// Manage applications.
    #[command(subcommand)]
    Clients(ClientsCmd),
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCmd),
    /// Manage APIs (resource servers) and their permissions.
    #[command(subcommand)]
    Apis(ApisCmd),
    /// List and end users' sessions (single sign-on at this server).
    #[command(subcommand)]
    Sessions(SessionsCmd),
    /// List and revoke users' refresh tokens (one per family: every rotation of it).
    #[command(subcommand, name = "refresh-tokens")]
    RefreshTokens(RefreshTokensCmd),
    /// Manage client grants: which API a machine-to-machine client may get tokens for, with
    /// which scopes.
    #[command(subcommand, name = "client-grants")]
    ClientGrants(ClientGrantsCmd),
    /// Read the audit trail (newest first).
    Logs(LogsArgs),
    /// List, rotate and revoke the signing keys and refresh-token MAC keys (running nodes pick
    /// changes up within --key-reload-interval).
    #[command(subcommand)]
    Keys(KeysCmd),
}

#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// List every key: kind, id, kid, state (next, active, retiring, revoked), creation and activation times.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add the next key of a kind: known to every node at once (a signing key is published in
    /// the JWKS), it starts issuing tokens --prepublish seconds later.
    Rotate {
        /// signing (RSA: RS256/PS256 ID tokens and JWT access tokens), signing-ec (P-256: ES256),
        /// signing-ed (Ed25519: EdDSA) or refresh (refresh-token MAC).
        #[arg(long, value_enum)]
        kind: KeyKind,
        /// Seconds between publication and first use; keep it above --key-reload-interval and
        /// the JWKS cache time of the APIs that verify tokens.
        #[arg(long, env = "RATCHET_KEY_PREPUBLISH", default_value_t = DEFAULT_PREPUBLISH)]
        prepublish: i64,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key that no longer issues: nodes stop verifying with it and its material is
    /// erased. Refused for the active key; needs --force while tokens it made may be live.
    Revoke {
        /// signing, signing-ec, signing-ed or refresh.
        #[arg(long, value_enum)]
        kind: KeyKind,
        /// The key's id (or, for a signing key, its kid) as `keys list` shows it.
        id: String,
        /// Revoke even though tokens made with the key may still be live (they stop working).
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
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
    /// Lifetime in seconds of the admin console's access tokens (renewed with its rotating
    /// refresh token).
    #[arg(long, env = "RATCHET_ADMIN_TOKEN_LIFETIME", default_value_t = crate::service::manage::console::CONSOLE_TOKEN_LIFETIME)]
    pub admin_token_lifetime: u32,
    /// DPoP: seconds a proof's iat may differ from the server's time, either way.
    #[arg(long, env = "RATCHET_DPOP_IAT_WINDOW", default_value_t = ratchet_core::dpop::DEFAULT_IAT_WINDOW)]
    pub dpop_iat_window: i64,
    /// DPoP: require server nonces in proofs (RFC 9449 §8).
    #[arg(long, env = "RATCHET_DPOP_NONCE")]
    pub dpop_nonce: bool,
    /// DPoP: seconds a server nonce is handed out (it stays valid as long again).
    #[arg(long, env = "RATCHET_DPOP_NONCE_LIFETIME", default_value_t = 300)]
    pub dpop_nonce_lifetime: i64,
    /// Proxies (CIDR[,CIDR…]) whose Forwarded / X-Forwarded-For headers name the client; set it
    /// behind a load balancer, or every client counts as the balancer's address.
    #[arg(long, env = "RATCHET_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,
    /// Connections served at once; more are closed as soon as they are accepted.
    #[arg(long, env = "RATCHET_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Seconds a client has to send a complete request head (from connecting, or from the first
    /// byte of a later request); then the connection is closed.
    #[arg(long, env = "RATCHET_HEADER_READ_TIMEOUT", default_value_t = 10)]
    pub header_read_timeout: u64,
    /// Seconds a keep-alive connection may wait for its next request; then it is closed.
    #[arg(long, env = "RATCHET_IDLE_TIMEOUT", default_value_t = 60)]
    pub idle_timeout: u64,
    /// Require `Authorization: Bearer <token>` at /metrics (prefer the environment variable).
    #[arg(long, env = "RATCHET_METRICS_TOKEN", hide_env_values = true, value_parser = secret_arg)]
    pub metrics_token: Option<Secret>,
    /// Seconds between two reloads of the keys from the database (picks up `ratchet keys` changes).
    #[arg(long, env = "RATCHET_KEY_RELOAD_INTERVAL", default_value_t = DEFAULT_KEY_RELOAD_INTERVAL)]
    pub key_reload_interval: u64,
}

/// A secret command-line value, kept out of `Debug` output.
fn secret_arg(s: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(s))
}

#[derive(Args, Debug, Default, Clone)]
pub struct RefreshFlags {
    /// Refresh-token rotation: rotating | non-rotating.
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

// A client's URL lists (Allowed Callback URLs, Allowed Logout URLs, Allowed Web Origins).
#[derive(Args, Debug, Default, Clone)]
pub struct UrlFlags {
    /// An Allowed Callback URL (repeatable): a redirect_uri must equal one exactly.
    #[arg(long = "callback")]
    pub callbacks: Vec<String>,
    /// An Allowed Logout URL (repeatable): where logout may return to.
    #[arg(long = "logout-url")]
    pub logout_urls: Vec<String>,
    /// An Allowed Web Origin (repeatable): origins allowed for CORS and web_message.
    #[arg(long = "web-origin")]
    pub web_origins: Vec<String>,
}

// The issuer, which names the Management API (`{issuer}api/v2/`).
#[derive(Args, Debug, Clone)]
pub struct IssuerFlag {
    /// The server's issuer URL, which names the Management API ({issuer}api/v2/).
    #[arg(long, env = "RATCHET_ISSUER", default_value = "http://127.0.0.1:3000/")]
    pub issuer: String,
}

#[derive(Subcommand, Debug)]
pub enum ClientsCmd {
    /// Register an application; prints its client_id (and, for confidential clients, its
    /// client_secret, shown once: only its hash is stored).
    Create {
        /// The application's name.
        #[arg(long)]
        name: String,
        /// Application type: spa | regular | native | m2m.
        #[arg(long = "type", default_value = "spa")]
        app_type: String,
        #[command(flatten)]
        urls: UrlFlags,
        #[command(flatten)]
        refresh: RefreshFlags,
        /// The ID tokens' signing algorithm (jwt_configuration.alg): RS256 (default; the only one
        /// Auth0's SPA SDK accepts), PS256, ES256 or EdDSA.
        #[arg(long, value_name = "ALG")]
        id_token_alg: Option<SigningAlg>,
        /// Print the client as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Change a client's refresh-token settings, URLs, DPoP policy or ID-token algorithm (lists replace the old ones
    /// when given).
    Update {
        /// The client_id.
        id: String,
        #[command(flatten)]
        urls: UrlFlags,
        #[command(flatten)]
        refresh: RefreshFlags,
        /// Require DPoP proofs on token requests (require_proof_of_possession).
        #[arg(long, value_name = "true|false")]
        require_dpop: Option<bool>,
        /// The ID tokens' signing algorithm (jwt_configuration.alg): RS256, PS256, ES256 or EdDSA.
        #[arg(long, value_name = "ALG")]
        id_token_alg: Option<SigningAlg>,
        /// Print the client as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List every client.
    List {
        /// Print {"clients": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        /// The client_id.
        id: String,
        /// Print the client as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Give a confidential client a new secret (shown once); the old one stops working at once.
    RotateSecret {
        /// The client_id.
        id: String,
        /// Print the client with its new client_secret as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Delete a client, its client grants, and revoke its refresh tokens.
    Delete {
        /// The client_id.
        id: String,
        /// Print {"client_id", "deleted"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum UsersCmd {
    /// Create a user with a password (Argon2id-hashed; only the hash is stored).
    Create {
        /// The email address, used to sign in (stored in lower case; must be unused).
        #[arg(long)]
        email: String,
        /// The password, 8 to 1024 characters (prefer the environment variable to the flag).
        #[arg(long, env = "RATCHET_USER_PASSWORD")]
        password: String,
        /// The display name (default: the email).
        #[arg(long)]
        name: Option<String>,
        /// Mark the email as verified.
        #[arg(long)]
        email_verified: bool,
        /// Make the user an administrator: they may sign in to the admin console at /admin/.
        #[arg(long)]
        admin: bool,
        /// Print the user as JSON (Auth0's user object).
        #[arg(long)]
        json: bool,
    },
    /// List users, a page at a time, in id order.
    List {
        /// Search: exact email:"value" and user_id:"value" terms, joined by AND.
        #[arg(long)]
        q: Option<String>,
        /// Page number, from 0.
        #[arg(long, default_value_t = 0)]
        page: u32,
        /// Users per page (1 to 100).
        #[arg(long, default_value_t = 50)]
        per_page: u32,
        /// Print {"users": [...], "total": N} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one user.
    Show {
        /// The user id (ratchet|…).
        id: String,
        /// Print the user as JSON (Auth0's user object).
        #[arg(long)]
        json: bool,
    },
    /// Change a user's email, name, password, email verification or administrator role.
    Update {
        /// The user id (ratchet|…).
        id: String,
        /// A new email address (must be unused).
        #[arg(long)]
        email: Option<String>,
        /// A new display name.
        #[arg(long)]
        name: Option<String>,
        /// A new password, 8 to 1024 characters.
        #[arg(long, env = "RATCHET_NEW_USER_PASSWORD")]
        password: Option<String>,
        /// Whether the email is verified (true or false).
        #[arg(long)]
        email_verified: Option<bool>,
        /// Whether the user is an administrator of the admin console (true or false).
        #[arg(long)]
        admin: Option<bool>,
        /// Print the user as JSON (Auth0's user object).
        #[arg(long)]
        json: bool,
    },
    /// Block a user: ends their sessions and revokes their refresh tokens.
    Block {
        /// The user id (ratchet|…).
        id: String,
        /// Print the user as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Unblock a user (revives nothing that blocking ended).
    Unblock {
        /// The user id (ratchet|…).
        id: String,
        /// Print the user as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lift a user's brute-force blocks (too many failed sign-ins from an address), from every
    /// address.
    UnblockBruteForce {
        /// The user id (ratchet|…).
        id: String,
        /// Print {"user_id": …, "blocked_for": [...]} (the blocks lifted) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a user and revoke everything issued to them.
    Delete {
        /// The user id (ratchet|…).
        id: String,
        /// Print {"user_id": …, "deleted": true} as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum SessionsCmd {
    /// List a user's sessions (id = the `sid` of their ID tokens).
    List {
        /// The user id (ratchet|…).
        #[arg(long)]
        user: String,
        /// Print {"sessions": [...]} as JSON (Auth0's session objects).
        #[arg(long)]
        json: bool,
    },
    /// End one session, or every session of a user: single sign-on stops (the next silent
    /// authentication needs a login). Refresh tokens keep working unless --with-refresh-tokens.
    Revoke {
        /// The session id (its `sid`).
        #[arg(required_unless_present = "user", conflicts_with = "user")]
        id: Option<String>,
        /// End every session of this user instead.
        #[arg(long)]
        user: Option<String>,
        /// Also revoke the refresh tokens issued in the session (with --user: every refresh
        /// token of the user).
        #[arg(long)]
        with_refresh_tokens: bool,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum RefreshTokensCmd {
    /// List a user's live refresh tokens (id = the family id, not a secret).
    List {
        /// The user id (ratchet|…).
        #[arg(long)]
        user: String,
        /// Print {"tokens": [...]} as JSON (Auth0's refresh-token objects).
        #[arg(long)]
        json: bool,
    },
    /// Revoke one refresh token (its whole family), or every refresh token of a user
    /// (optionally only those issued to one client). Their next use is `invalid_grant`.
    Revoke {
        /// The refresh token id.
        #[arg(required_unless_present = "user", conflicts_with_all = ["user", "client"])]
        id: Option<String>,
        /// Revoke every refresh token of this user instead.
        #[arg(long)]
        user: Option<String>,
        /// With --user: only those issued to this client.
        #[arg(long, requires = "user")]
        client: Option<String>,
        /// Print {"revoked": N} as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApisCmd {
    /// Register an API (a resource server) that access tokens can be requested for.
    Create {
        /// The API's identifier: the `audience` clients ask tokens for (e.g. https://api.example.com).
        #[arg(long)]
        audience: String,
        /// A display name (default: the identifier).
        #[arg(long)]
        name: Option<String>,
        /// Allow refresh tokens for this API.
        #[arg(long)]
        allow_offline_access: bool,
        /// Access-token lifetime in seconds (default 86400).
        #[arg(long)]
        token_lifetime: Option<u32>,
        /// The access tokens' signing algorithm (signing_alg): RS256 (default), PS256, ES256 or EdDSA.
        #[arg(long, value_name = "ALG")]
        signing_alg: Option<SigningAlg>,
        /// A permission of the API, VALUE[=description] (repeatable), e.g. read:messages=Read messages.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Print the API as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List the APIs, the Management API (a system API) first.
    List {
        #[command(flatten)]
        issuer: IssuerFlag,
        /// Print {"apis": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Show one API, by id or identifier.
    Show {
        /// The API's id or identifier.
        id: String,
        #[command(flatten)]
        issuer: IssuerFlag,
        /// Print the API as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Change an API's name, token lifetime, signing algorithm, offline access or permissions.
    Update {
        /// The API's id or identifier.
        id: String,
        /// A new display name.
        #[arg(long)]
        name: Option<String>,
        /// Allow (true) or refuse (false) refresh tokens for this API.
        #[arg(long)]
        allow_offline_access: Option<bool>,
        /// Access-token lifetime in seconds.
        #[arg(long)]
        token_lifetime: Option<u32>,
        /// The access tokens' signing algorithm (signing_alg): RS256, PS256, ES256 or EdDSA.
        #[arg(long, value_name = "ALG")]
        signing_alg: Option<SigningAlg>,
        /// The API's permissions, VALUE[=description] (repeatable; replaces the list when given).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Remove every permission.
        #[arg(long, conflicts_with = "scopes")]
        no_scopes: bool,
        #[command(flatten)]
        issuer: IssuerFlag,
        /// Print the API as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Delete an API and the client grants for it.
    Delete {
        /// The API's id or identifier.
        id: String,
        #[command(flatten)]
        issuer: IssuerFlag,
        /// Print {"id", "deleted"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClientGrantsCmd {
    /// Allow a client to get client_credentials tokens for an API (a registered one, or the
    /// Management API: {issuer}api/v2/ or https://{issuer host[:port]}/api/v2/).
    Create {
        /// The client_id of a confidential (e.g. m2m) client.
        #[arg(long)]
        client_id: String,
        /// The API's identifier.
        #[arg(long)]
        audience: String,
        /// A scope to grant (repeatable); each must be one of the API's permissions.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[command(flatten)]
        issuer: IssuerFlag,
        /// Print the grant as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List client grants, optionally only a client's or an API's.
    List {
        /// Only this client's grants.
        #[arg(long)]
        client_id: Option<String>,
        /// Only the grants for this API.
        #[arg(long)]
        audience: Option<String>,
        #[command(flatten)]
        issuer: IssuerFlag,
        /// Print {"client_grants": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Delete a client grant: the client gets no more tokens for that API.
    Delete {
        /// The grant's id.
        id: String,
        /// Print {"id", "deleted"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Only events of this Auth0 log event type (s, f, sertft, fertft, ferrt, srrt, sapi, …).
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Only events of this user id.
    #[arg(long)]
    pub user: Option<String>,
    /// A search as the Management API takes it: type:CODE, user_id:ID, client_id:ID and
    /// date:[FROM TO TO] (ISO 8601 dates or *), joined by spaces or AND.
    #[arg(long)]
    pub search: Option<String>,
    /// How many events at most (newest first).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Print {"logs": [...]} with Auth0's log event objects.
    #[arg(long)]
    pub json: bool,
}

impl RefreshFlags {
    /// The flags as adjustments of a policy (the management layer applies Auth0's coupling).
    fn changes(&self) -> anyhow::Result<Option<RefreshUpdate>> {
        let rotation = match self.rotation.as_deref() {
            None => None,
            Some("rotating") => Some(RotationType::Rotating),
            Some("non-rotating") => Some(RotationType::NonRotating),
            Some(other) => bail!("--rotation must be rotating or non-rotating, not {other}"),
        };
        let policies = if self.refresh_policies.is_empty() {
            None
        } else {
            Some(self.refresh_policies.iter().map(|s| parse_refresh_policy(s)).collect::<anyhow::Result<Vec<_>>>()?)
        };
        let c = RefreshChanges {
            rotation,
            leeway: self.leeway,
            absolute_lifetime: self.absolute_lifetime,
            idle_lifetime: self.idle_lifetime,
            non_expiring: self.non_expiring,
            policies,
        };
        let any = c.rotation.is_some()
            || c.leeway.is_some()
            || c.absolute_lifetime.is_some()
            || c.idle_lifetime.is_some()
            || c.non_expiring
            || c.policies.is_some();
        Ok(any.then_some(RefreshUpdate::Adjust(c)))
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
        Command::Serve(args) => serve(cli.database, args, cli.allow_insecure_callbacks, clock).await,
        Command::Migrate => {
            let m = management(&cli.database, clock).await?;
            m.ensure_console_client().await.map_err(failed)?;
            println!("database is up to date: {}", ratchet_store::redact_url(&cli.database));
            Ok(())
        }
        Command::Purge { json } => {
            let store = ratchet_store::open(&cli.database).await?;
            let n = crate::service::maintenance::purge(store.as_ref(), clock.now()).await?;
            print(json, &json!({"purged": n}), || format!("purged {n} rows"));
            Ok(())
        }
        Command::Clients(cmd) => {
            let store = ratchet_store::open(&cli.database).await?;
            let m = management_for(store, clock, DEFAULT_ISSUER)?.allowing_insecure_callbacks(cli.allow_insecure_callbacks);
            clients(&m, cmd).await.map_err(cli_error)
        }
        Command::Users(cmd) => users(&management(&cli.database, clock).await?, cmd).await,
        Command::Sessions(cmd) => sessions(&management(&cli.database, clock).await?, cmd).await,
        Command::RefreshTokens(cmd) => refresh_tokens(&management(&cli.database, clock).await?, cmd).await,
        Command::Apis(cmd) => apis(ratchet_store::open(&cli.database).await?, clock, cmd).await,
        Command::ClientGrants(cmd) => client_grants(ratchet_store::open(&cli.database).await?, clock, cmd).await,
        Command::Logs(args) => logs(ratchet_store::open(&cli.database).await?, clock, args).await,
        Command::Keys(cmd) => {
            let master = crate::keys::master_key(
                std::env::var("RATCHET_MASTER_KEY").ok().filter(|k| !k.trim().is_empty()).as_deref(),
                key_file_for(&cli.database).as_deref(),
            )?;
            keys(&KeyService::new(ratchet_store::open(&cli.database).await?, clock, master), cmd).await
        }
    }
}

fn key_line(k: &KeyView) -> String {
    format!(
        "{}\t{}\t{}\t{:?}\tcreated {}\tactivates {}{}",
        k.kind.name(),
        k.id,
        k.kid.as_deref().unwrap_or("-"),
        k.state,
        k.created_at,
        k.activates_at,
        k.verifies_until.map(|t| format!("\tverifies until {t}")).unwrap_or_default()
    )
    .to_lowercase()
}

/// `ratchet keys`: through the key service.
async fn keys(service: &KeyService, cmd: KeysCmd) -> anyhow::Result<()> {
    let one = |json_out: bool, k: KeyView| {
        print(json_out, &serde_json::to_value(&k).expect("key views serialise"), || key_line(&k));
    };
    match cmd {
        KeysCmd::List { json } => {
            let keys = service.list().await?;
            print(json, &json!({ "keys": keys }), || keys.iter().map(key_line).collect::<Vec<_>>().join("\n"));
        }
        KeysCmd::Rotate { kind, prepublish, json } => one(json, service.rotate(kind, prepublish).await?),
        KeysCmd::Revoke { kind, id, force, json } => one(json, service.revoke(kind, &id, force).await?),
    }
    Ok(())
}

/// `ratchet logs`: the newest events of a search, through the management layer's log service.
async fn logs(store: Arc<dyn Store>, clock: Arc<dyn Clock>, args: LogsArgs) -> anyhow::Result<()> {
    let mut filter = parse_search(args.search.as_deref().unwrap_or_default())?;
    for (flag, value, slot) in [("--type", args.kind, &mut filter.kind), ("--user", args.user, &mut filter.user_id)] {
        if let Some(v) = value {
            if slot.is_some() {
                bail!("{flag} repeats a term of --search");
            }
            *slot = Some(v);
        }
    }
    let logs = LogService::new(store, clock).latest(&filter, args.limit).await?;
    if args.json {
        println!("{}", json!({ "logs": logs }));
    } else {
        for l in &logs {
            println!("{}\t{}\t{}\t{}\t{}", l.date, l.kind, l.user_id.as_deref().unwrap_or("-"), l.description, l.details);
        }
    }
    Ok(())
}

/// The issuer the CLI assumes when none is given (the default of `serve`).
const DEFAULT_ISSUER: &str = "http://127.0.0.1:3000/";

fn management_for(store: Arc<dyn Store>, clock: Arc<dyn Clock>, issuer: &str) -> anyhow::Result<Management> {
    Ok(Management::new(store, clock, parse_issuer(issuer)?))
}

/// A management error as the CLI reports it (then exits non-zero).
fn cli_error(e: anyhow::Error) -> anyhow::Error {
    match e.downcast::<ManageError>() {
        Ok(ManageError::NotFound(Resource::Client)) => anyhow::anyhow!("no such client"),
        Ok(ManageError::NotFound(Resource::ResourceServer)) => anyhow::anyhow!("no such API"),
        Ok(ManageError::NotFound(Resource::ClientGrant)) => anyhow::anyhow!("no such client grant"),
        Ok(ManageError::Store(e)) => anyhow::Error::new(e).context("database error"),
        Ok(e) => anyhow::anyhow!("{e}"),
        Err(e) => e,
    }
}

/// Every item of a paged listing, page by page.
async fn all_pages<T, F, Fut>(list: F) -> anyhow::Result<Vec<T>>
where
    F: Fn(Page) -> Fut,
    Fut: std::future::Future<Output = Result<crate::service::manage::Listed<T>, ManageError>>,
{
    let mut out = Vec::new();
    for page in 0.. {
        let listed = list(Page { page, per_page: 100 }).await?;
        let n = listed.items.len();
        out.extend(listed.items);
        if n < 100 || out.len() as u64 >= listed.total {
            break;
        }
    }
    Ok(out)
}

fn with_secret_json(w: &WithSecret) -> Value {
    client_json(&w.client, w.secret.as_ref().map(|s| s.expose()))
}

async fn clients(m: &Management, cmd: ClientsCmd) -> anyhow::Result<()> {
    match cmd {
        ClientsCmd::Create { name, app_type, urls, refresh, id_token_alg, json } => {
            let spec = ClientSpec {
                name,
                app_type: Some(AppType::parse(&app_type)?),
                callbacks: urls.callbacks,
                allowed_logout_urls: urls.logout_urls,
                web_origins: urls.web_origins,
                refresh_token: refresh.changes()?,
                id_token_alg,
                ..Default::default()
            };
            let created = m.clients.create(spec).await?;
            let client = &created.client;
            print(json, &with_secret_json(&created), || {
                let mut s = format!(
                    "created {} client {} ({})",
                    serde_json::to_value(client.app_type).unwrap_or_default(),
                    client.client_id,
                    client.name
                );
                if let Some(sec) = &created.secret {
                    s.push_str(&format!("\nclient_secret: {}\n(shown once; only its hash is stored)", sec.expose()));
                }
                s
            });
        }
        ClientsCmd::Update { id, urls, refresh, require_dpop, id_token_alg, json } => {
            let non_empty = |v: Vec<String>| (!v.is_empty()).then_some(v);
            let changes = ClientChanges {
                callbacks: non_empty(urls.callbacks),
                allowed_logout_urls: non_empty(urls.logout_urls),
                web_origins: non_empty(urls.web_origins),
                refresh_token: refresh.changes()?,
                require_proof_of_possession: require_dpop,
                id_token_alg,
                ..Default::default()
            };
            let client = m.clients.update(&id, changes).await?;
            print(json, &client_json(&client, None), || format!("updated client {}", client.client_id));
        }
        ClientsCmd::List { json } => {
            let service = &m.clients;
            let all = all_pages(|p| service.list(p)).await?;
            print(json, &json!({"clients": all.iter().map(|c| client_json(c, None)).collect::<Vec<_>>()}), || {
                all.iter()
                    .map(|c| format!("{}\t{}\t{}", c.client_id, serde_json::to_value(c.app_type).unwrap_or_default(), c.name))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        ClientsCmd::Show { id, json } => {
            let v = client_json(&m.clients.get(&id).await?, None);
            print(json, &v, || serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        ClientsCmd::RotateSecret { id, json } => {
            let rotated = m.clients.rotate_secret(&id).await?;
            print(json, &with_secret_json(&rotated), || {
                let secret = rotated.secret.as_ref().map(|s| s.expose()).unwrap_or_default();
                format!("new client_secret for {id}: {secret}\n(shown once; only its hash is stored)")
            });
        }
        ClientsCmd::Delete { id, json } => {
            m.clients.delete(&id).await?;
            print(json, &json!({"client_id": id, "deleted": true}), || format!("deleted client {id} and revoked its refresh tokens"));
        }
    }
    Ok(())
}

fn api_json(rs: &ResourceServer) -> Value {
    let mut v = serde_json::to_value(&rs.api).expect("APIs serialise");
    v["is_system"] = Value::from(rs.is_system);
    v
}

fn parse_scopes(scopes: &[String]) -> anyhow::Result<Vec<ApiScope>> {
    Ok(scopes.iter().map(|s| ApiScope::parse(s)).collect::<Result<Vec<_>, _>>()?)
}

async fn apis(store: Arc<dyn Store>, clock: Arc<dyn Clock>, cmd: ApisCmd) -> anyhow::Result<()> {
    let run = async {
        match cmd {
            ApisCmd::Create { audience, name, allow_offline_access, token_lifetime, signing_alg, scopes, json } => {
                let m = management_for(store, clock, DEFAULT_ISSUER)?;
                let new = NewApi {
                    identifier: audience,
                    name,
                    scopes: parse_scopes(&scopes)?,
                    token_lifetime,
                    allow_offline_access,
                    signing_alg,
                };
                let api = m.apis.create(new).await?;
                print(json, &serde_json::to_value(&api)?, || format!("created API {} ({})", api.identifier, api.id));
            }
            ApisCmd::List { issuer, json } => {
                let m = management_for(store, clock, &issuer.issuer)?;
                let service = &m.apis;
                let all = all_pages(|p| service.list(p)).await?;
                print(json, &json!({"apis": all.iter().map(api_json).collect::<Vec<_>>()}), || {
                    all.iter()
                        .map(|rs| {
                            format!("{}\t{}\t{}{}", rs.api.id, rs.api.identifier, rs.api.name, if rs.is_system { "\t(system)" } else { "" })
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                });
            }
            ApisCmd::Show { id, issuer, json } => {
                let m = management_for(store, clock, &issuer.issuer)?;
                let v = api_json(&m.apis.get(&id).await?);
                print(json, &v, || serde_json::to_string_pretty(&v).unwrap_or_default());
            }
            ApisCmd::Update { id, name, allow_offline_access, token_lifetime, signing_alg, scopes, no_scopes, issuer, json } => {
                let m = management_for(store, clock, &issuer.issuer)?;
                let scopes = if no_scopes {
                    Some(Vec::new())
                } else if scopes.is_empty() {
                    None
                } else {
                    Some(parse_scopes(&scopes)?)
                };
                let changes = ApiChanges { name, scopes, token_lifetime, allow_offline_access, signing_alg };
                let api = m.apis.update(&id, changes).await?;
                print(json, &serde_json::to_value(&api)?, || format!("updated API {} ({})", api.identifier, api.id));
            }
            ApisCmd::Delete { id, issuer, json } => {
                let m = management_for(store, clock, &issuer.issuer)?;
                m.apis.delete(&id).await?;
                print(json, &json!({"id": id, "deleted": true}), || format!("deleted API {id} and its client grants"));
            }
        }
        anyhow::Ok(())
    };
    run.await.map_err(cli_error)
}

fn grant_json(g: &ClientGrant) -> Value {
    json!({"id": g.id, "client_id": g.client_id, "audience": g.audience, "scope": g.scope})
}

async fn client_grants(store: Arc<dyn Store>, clock: Arc<dyn Clock>, cmd: ClientGrantsCmd) -> anyhow::Result<()> {
    let run = async {
        match cmd {
            ClientGrantsCmd::Create { client_id, audience, scopes, issuer, json } => {
                let m = management_for(store, clock, &issuer.issuer)?;
                let g = m.client_grants.create(NewClientGrant { client_id, audience, scope: scopes }).await?;
                print(json, &grant_json(&g), || {
                    format!("created client grant {} ({} → {}: {})", g.id, g.client_id, g.audience, g.scope.join(" "))
                });
            }
            ClientGrantsCmd::List { client_id, audience, issuer, json } => {
                let m = management_for(store, clock, &issuer.issuer)?;
                let filter = ClientGrantFilter { client_id, audience };
                let service = &m.client_grants;
                let all = all_pages(|p| service.list(filter.clone(), p)).await?;
                print(json, &json!({"client_grants": all.iter().map(grant_json).collect::<Vec<_>>()}), || {
                    all.iter()
                        .map(|g| format!("{}\t{}\t{}\t{}", g.id, g.client_id, g.audience, g.scope.join(" ")))
                        .collect::<Vec<_>>()
                        .join("\n")
                });
            }
            ClientGrantsCmd::Delete { id, json } => {
                let m = management_for(store, clock, DEFAULT_ISSUER)?;
                m.client_grants.delete(&id).await?;
                print(json, &json!({"id": id, "deleted": true}), || format!("deleted client grant {id}"));
            }
        }
        anyhow::Ok(())
    };
    run.await.map_err(cli_error)
}

/// The management layer over the database named on the command line. The issuer (for the
/// audience shown on refresh tokens issued without an API) comes from `RATCHET_ISSUER`.
async fn management(database: &str, clock: Arc<dyn Clock>) -> anyhow::Result<Management> {
    let store = ratchet_store::open(database).await?;
    let issuer = std::env::var("RATCHET_ISSUER").ok().filter(|i| !i.trim().is_empty());
    let issuer = parse_issuer(issuer.as_deref().unwrap_or("http://127.0.0.1:3000/"))?;
    Ok(Management::new(store, clock, issuer))
}

/// A management failure as the CLI reports it (a message; `main` exits non-zero).
fn failed(e: ManageError) -> anyhow::Error {
    match e {
        ManageError::NotFound(r) => anyhow::anyhow!("no such {}", format!("{r:?}").to_lowercase()),
        e => anyhow::anyhow!("{e}"),
    }
}

fn user_line(u: &User) -> String {
    let flags = [(u.admin, "\t(administrator)"), (u.blocked, "\t(blocked)")];
    let flags: String = flags.iter().filter(|(on, _)| *on).map(|(_, f)| *f).collect();
    format!("{}\t{}\t{}{flags}", u.user_id, u.email, u.name)
}

async fn users(m: &Management, cmd: UsersCmd) -> anyhow::Result<()> {
    let view = |u: &User| serde_json::to_value(UserView::new(u)).expect("users serialise");
    match cmd {
        UsersCmd::Create { email, password, name, email_verified, admin, json } => {
            let new = NewUser {
                connection: CONNECTION.into(),
                email,
                password: Secret::new(password),
                name,
                blocked: false,
                admin,
                email_verified,
                user_metadata: Default::default(),
                app_metadata: Default::default(),
            };
            let u = m.users.create(new).await.map_err(failed)?;
            print(json, &view(&u), || format!("created user {} ({})", u.user_id, u.email));
        }
        UsersCmd::List { q, page, per_page, json } => {
            let listed = m.users.list(q.as_deref(), Page { page, per_page }).await.map_err(failed)?;
            let items: Vec<Value> = listed.items.iter().map(view).collect();
            print(json, &json!({"users": items, "total": listed.total}), || {
                let mut lines: Vec<String> = listed.items.iter().map(user_line).collect();
                lines.push(format!("({} of {} users)", listed.items.len(), listed.total));
                lines.join("\n")
            });
        }
        UsersCmd::Show { id, json } => {
            let u = m.users.get(&id).await.map_err(failed)?;
            let v = view(&u);
            print(json, &v, || serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        UsersCmd::Update { id, email, name, password, email_verified, admin, json } => {
            let changes = UserChanges { email, name, password: password.map(Secret::new), email_verified, admin, ..Default::default() };
            let u = m.users.update(&id, changes).await.map_err(failed)?;
            print(json, &view(&u), || format!("updated user {}", u.user_id));
        }
        UsersCmd::Block { id, json } => {
            let u = m.users.set_blocked(&id, true).await.map_err(failed)?;
            print(json, &view(&u), || format!("blocked {id}; sessions ended and refresh tokens revoked"));
        }
        UsersCmd::Unblock { id, json } => {
            let u = m.users.set_blocked(&id, false).await.map_err(failed)?;
            print(json, &view(&u), || format!("unblocked {id}"));
        }
        UsersCmd::UnblockBruteForce { id, json } => {
            let lifted = m.users.brute_force_blocks(&id).await.map_err(failed)?;
            m.users.unblock_brute_force(&id).await.map_err(failed)?;
            print(json, &json!({"user_id": id, "blocked_for": lifted}), || {
                let ips: Vec<&str> = lifted.iter().map(|b| b.ip.as_str()).collect();
                if ips.is_empty() { format!("{id} was not blocked") } else { format!("unblocked {id} from {}", ips.join(", ")) }
            });
        }
        UsersCmd::Delete { id, json } => {
            m.users.delete(&id).await.map_err(failed)?;
            print(json, &json!({"user_id": id, "deleted": true}), || format!("deleted {id} and revoked their refresh tokens"));
        }
    }
    Ok(())
}

/// Every chunk of a checkpoint-paged listing.
async fn all_chunks<T, F, Fut>(mut next_chunk: F) -> anyhow::Result<Vec<T>>
where
    F: FnMut(Checkpoint) -> Fut,
    Fut: std::future::Future<Output = Result<Chunk<T>, ManageError>>,
{
    let mut items = Vec::new();
    let mut from = None;
    loop {
        let chunk = next_chunk(Checkpoint { from: from.take(), take: 100 }).await.map_err(failed)?;
        items.extend(chunk.items);
        match chunk.next {
            Some(n) => from = Some(n),
            None => return Ok(items),
        }
    }
}

async fn sessions(m: &Management, cmd: SessionsCmd) -> anyhow::Result<()> {
    match cmd {
        SessionsCmd::List { user, json } => {
            let all = all_chunks(|at| {
                let user = user.clone();
                async move { m.sessions.list_of_user(&user, &at).await }
            })
            .await?;
            let items: Vec<Value> = all.iter().map(|s| serde_json::to_value(SessionView::new(s)).expect("sessions serialise")).collect();
            print(json, &json!({"sessions": items}), || {
                all.iter()
                    .map(|i| {
                        let s = &i.session;
                        let clients: Vec<&str> = i.clients.iter().map(String::as_str).collect();
                        format!(
                            "{}\tlast used {}\t{}\t{}",
                            s.sid,
                            s.last_interacted_at,
                            s.last.ip.as_deref().unwrap_or("-"),
                            clients.join(",")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        SessionsCmd::Revoke { id, user, with_refresh_tokens, json } => match (id, user) {
            (Some(sid), _) => {
                if with_refresh_tokens {
                    m.sessions.revoke(&sid).await.map_err(failed)?;
                } else {
                    m.sessions.delete(&sid).await.map_err(failed)?;
                }
                print(json, &json!({"session_id": sid, "revoked": true, "refresh_tokens_revoked": with_refresh_tokens}), || {
                    format!("ended session {sid}{}", if with_refresh_tokens { " and revoked its refresh tokens" } else { "" })
                });
            }
            (None, Some(user)) => {
                let n = m.sessions.delete_of_user(&user).await.map_err(failed)?;
                let tokens = if with_refresh_tokens { Some(m.refresh_tokens.revoke_of_user(&user).await.map_err(failed)?) } else { None };
                print(json, &json!({"user_id": user, "sessions": n, "refresh_tokens": tokens}), || match tokens {
                    Some(t) => format!("ended {n} sessions of {user} and revoked {t} refresh tokens"),
                    None => format!("ended {n} sessions of {user}"),
                });
            }
            (None, None) => bail!("give a session id or --user"),
        },
    }
    Ok(())
}

async fn refresh_tokens(m: &Management, cmd: RefreshTokensCmd) -> anyhow::Result<()> {
    match cmd {
        RefreshTokensCmd::List { user, json } => {
            let all = all_chunks(|at| {
                let user = user.clone();
                async move { m.refresh_tokens.list_of_user(&user, &at).await }
            })
            .await?;
            let items: Vec<Value> =
                all.iter().map(|r| serde_json::to_value(m.refresh_tokens.view(r)).expect("refresh tokens serialise")).collect();
            print(json, &json!({"tokens": items}), || {
                all.iter()
                    .map(|r| {
                        let f = &r.family;
                        format!("{}\t{}\t{}\t{}", f.id, f.client_id, f.audience.as_deref().unwrap_or("-"), f.scope)
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        RefreshTokensCmd::Revoke { id, user, client, json } => {
            let n = match (id, user) {
                (Some(id), _) => {
                    m.refresh_tokens.revoke_one(&id).await.map_err(failed)?;
                    1
                }
                (None, Some(user_id)) => {
                    m.users.get(&user_id).await.map_err(failed)?;
                    m.refresh_tokens.revoke(&RevokeTarget::User { user_id, client_id: client, audience: None }).await.map_err(failed)?
                }
                (None, None) => bail!("give a refresh token id or --user"),
            };
            print(json, &json!({"revoked": n}), || format!("revoked {n} refresh token(s)"));
        }
    }
    Ok(())
}

async fn serve(database: String, args: ServeArgs, allow_insecure_callbacks: bool, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    let config = Config {
        listen: args.listen,
        database_url: database,
        issuer: args.issuer.as_deref().map(parse_issuer).transpose()?,
        master_key: std::env::var("RATCHET_MASTER_KEY").ok().filter(|k| !k.trim().is_empty()),
        demo: args.demo.then(|| DemoConfig { listen: args.demo_listen, root: args.demo_root.clone() }),
        management: ManagementConfig {
            rate_limit: args.management_rate_limit.max(1),
            cors_origins: normalize_origins(&args.management_cors_origins),
            console_token_lifetime: args.admin_token_lifetime.max(1),
        },
        dpop: DpopConfig { iat_window: args.dpop_iat_window, nonce: args.dpop_nonce, nonce_lifetime: args.dpop_nonce_lifetime },
        trusted_proxies: args.trusted_proxies,
        connections: ConnectionLimits {
            max_connections: args.max_connections,
            header_read_timeout: Duration::from_secs(args.header_read_timeout),
            idle_timeout: Duration::from_secs(args.idle_timeout),
        },
        metrics_token: args.metrics_token.filter(|t| !t.expose().trim().is_empty()),
        allow_insecure_callbacks,
        key_reload_interval: std::time::Duration::from_secs(args.key_reload_interval.max(1)),
    };
    if args.max_connections < 1 || args.header_read_timeout < 1 || args.idle_timeout < 1 {
        bail!("--max-connections, --header-read-timeout and --idle-timeout must be at least 1");
    }
    if config.dpop.iat_window < 1 || config.dpop.nonce_lifetime < 1 {
        bail!("--dpop-iat-window and --dpop-nonce-lifetime must be at least 1 second");
    }
    let app = crate::Application::build(config.clone(), clock.clone()).await?;
    let state = app.state.clone();
    println!("listening on http://{}/", app.address());
    if state.iss() != format!("http://{}/", app.address()) {
        println!("issuer: {}", state.iss());
    }
    if let Some(demo) = &config.demo {
        crate::demo::start(&state, demo).await?;
    }
    let clock_for_purge = clock.clone();
    tokio::spawn(crate::service::maintenance::purge_periodically(state.store.clone(), move || clock_for_purge.now()));
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
