//! Server configuration, resolved from CLI flags and their `RATCHET_*` environment twins.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};

pub use crate::connections::ConnectionLimits;
pub use crate::http::client_address::TrustedProxies;

/// Everything `serve` needs.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    /// The issuer; `None` means `http://<bound address>/` (known only after binding).
    pub issuer: Option<url::Url>,
    /// 64 hex characters; `None` with SQLite means a key file beside the database.
    pub master_key: Option<String>,
    /// Seed demo data and serve the demo SPA on this address.
    pub demo: Option<DemoConfig>,
    /// The Management API's limits and browser access.
    pub management: ManagementConfig,
    pub dpop: DpopConfig,
    /// Proxies whose `Forwarded` / `X-Forwarded-For` name the client (none: the TCP peer is).
    pub trusted_proxies: TrustedProxies,
    /// Bounds on concurrent and slow connections.
    pub connections: ConnectionLimits,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`.
    pub metrics_token: Option<ratchet_core::secret::Secret>,
    /// Accept `http://` callback URLs on hosts other than loopback at client registration.
    pub allow_insecure_callbacks: bool,
    /// How often a node rebuilds its keys from the store, picking up rotations and revocations
    /// made elsewhere (docs/security.md, "Key rotation").
    pub key_reload_interval: std::time::Duration,
}

/// The default of `--key-reload-interval`, in seconds.
pub const DEFAULT_KEY_RELOAD_INTERVAL: u64 = 60;

/// Settings of `/api/v2`.
#[derive(Clone, Debug)]
pub struct ManagementConfig {
    /// Requests per second each caller (a client, or an address before it authenticates) may
    /// make, sustained; also the burst.
    pub rate_limit: u32,
    /// Browser origins allowed to call `/api/v2` with CORS (none by default).
    pub cors_origins: Vec<String>,
    /// Lifetime (seconds) of the admin console's Management API access tokens.
    pub console_token_lifetime: u32,
}

impl Default for ManagementConfig {
    fn default() -> Self {
        ManagementConfig {
            rate_limit: 50,
            cors_origins: Vec::new(),
            console_token_lifetime: crate::service::manage::console::CONSOLE_TOKEN_LIFETIME,
        }
    }
}

/// DPoP (RFC 9449) settings of a node; every node of a deployment should use the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpopConfig {
    /// A proof's `iat` must be within this many seconds of the server's time (either way).
    pub iat_window: i64,
    /// Require server nonces in proofs (RFC 9449 §8).
    pub nonce: bool,
    /// How long a server nonce is handed out; it stays accepted for as long again.
    pub nonce_lifetime: i64,
}

impl Default for DpopConfig {
    fn default() -> Self {
        DpopConfig { iat_window: ratchet_core::dpop::DEFAULT_IAT_WINDOW, nonce: false, nonce_lifetime: 300 }
    }
}

#[derive(Clone, Debug)]
pub struct DemoConfig {
    pub listen: SocketAddr,
    /// The repository root holding `examples/spa` and `sdk/spa-js/dist`.
    pub root: PathBuf,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &ratchet_store::redact_url(&self.database_url))
            .field("issuer", &self.issuer.as_ref().map(|u| u.as_str()))
            .field("master_key", &self.master_key.as_ref().map(|_| "<redacted>"))
            .field("demo", &self.demo)
            .field("management", &self.management)
            .field("dpop", &self.dpop)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("connections", &self.connections)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "<redacted>"))
            .field("allow_insecure_callbacks", &self.allow_insecure_callbacks)
            .field("key_reload_interval", &self.key_reload_interval)
            .finish()
    }
}

/// Parses an issuer URL and gives it the trailing slash Auth0 issuers have.
pub fn parse_issuer(s: &str) -> anyhow::Result<url::Url> {
    let mut u = url::Url::parse(s).context("--issuer must be an absolute URL")?;
    if !matches!(u.scheme(), "http" | "https") || u.query().is_some() || u.fragment().is_some() {
        bail!("--issuer must be an http(s) URL without query or fragment");
    }
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    Ok(u)
}

/// The path of the key file used when no master key is configured: beside the SQLite database.
pub fn key_file_for(database_url: &str) -> Option<PathBuf> {
    let path = database_url.strip_prefix("sqlite://").or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(format!("{path}.master-key")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_gets_a_trailing_slash() {
        assert_eq!(parse_issuer("https://auth.example").unwrap().as_str(), "https://auth.example/");
        assert_eq!(parse_issuer("https://auth.example/t").unwrap().as_str(), "https://auth.example/t/");
        assert!(parse_issuer("ftp://x").is_err());
    }

    #[test]
    fn key_file_sits_beside_the_database() {
        assert_eq!(key_file_for("sqlite://ratchet.db"), Some(PathBuf::from("ratchet.db.master-key")));
        assert_eq!(key_file_for("sqlite:///var/lib/r.db?mode=rwc"), Some(PathBuf::from("/var/lib/r.db.master-key")));
        assert_eq!(key_file_for("postgres://x"), None);
    }
}
