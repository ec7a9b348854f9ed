//! Startup: open the store, load keys, bind the listener, serve (zero2prod's `Application` split,
//! so tests start the real server on port 0 with their own database and clock).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use ratchet_core::crypto::MasterKey;
use ratchet_store::Store;
use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::config::{Config, ManagementConfig, TrustedProxies, key_file_for};
use crate::connections::ConnectionLimits;
use crate::keys::{self, Keys};
use crate::service::audit::Audit;
use crate::service::dpop::DpopSettings;
use crate::service::manage::Management;
use crate::service::signin::Hashing;

/// Shared state of a running node. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Arc<dyn Store>,
    pub keys: Keys,
    /// The issuer with its trailing slash, e.g. `http://127.0.0.1:3000/`.
    pub issuer: url::Url,
    pub clock: Arc<dyn Clock>,
    pub audit: Audit,
    /// Proxies whose forwarding headers name the client (`http::client_address`).
    pub trusted_proxies: TrustedProxies,
    pub hashing: Hashing,
    /// The management layer (DESIGN §7), shared by `/api/v2` and the CLI.
    pub manage: Management,
    pub management: ManagementConfig,
    pub dpop: DpopSettings,
    /// The bearer token `/metrics` requires, if any.
    pub metrics_token: Option<ratchet_core::secret::Secret>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
    /// The issuer as it appears in `iss` (with the trailing slash).
    pub fn iss(&self) -> &str {
        self.issuer.as_str()
    }
    /// An absolute URL under the issuer, e.g. `endpoint("oauth/token")`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }
    /// Cookies carry `Secure` when the issuer is https.
    pub fn secure_cookies(&self) -> bool {
        self.issuer.scheme() == "https"
    }
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    limits: ConnectionLimits,
    pub state: AppState,
    /// For the key reload task.
    master: MasterKey,
    key_reload_interval: std::time::Duration,
}

impl Application {
    /// Opens the store (migrating it), loads or creates the keys and binds the listener.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let store = ratchet_store::open(&config.database_url).await.context("cannot open the database")?;
        let master = keys::master_key(config.master_key.as_deref(), key_file_for(&config.database_url).as_deref())?;
        let keys = keys::load_or_create(&*store, &master, clock.now()).await?;
        let listener = TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let issuer = match config.issuer {
            Some(i) => i,
            None => crate::config::parse_issuer(&format!("http://{addr}/"))?,
        };
        let dpop = DpopSettings {
            iat_window: config.dpop.iat_window,
            nonce: config.dpop.nonce.then(|| ratchet_core::dpop::NonceKey::new(&keys.dpop_nonce, config.dpop.nonce_lifetime)),
        };
        let state = AppState(Arc::new(Inner {
            dpop,
            audit: Audit::start(store.clone()),
            manage: Management {
                console_token_lifetime: config.management.console_token_lifetime,
                ..Management::new(store.clone(), clock.clone(), issuer.clone()).allowing_insecure_callbacks(config.allow_insecure_callbacks)
            },
            management: config.management.clone(),
            store,
            keys,
            issuer,
            clock,
            trusted_proxies: config.trusted_proxies.clone(),
            hashing: Hashing::new(2),
            metrics_token: config.metrics_token.clone(),
        }));
        state.manage.ensure_console_client().await.context("cannot set up the admin console's client")?;
        Ok(Application { listener, limits: config.connections, state, master, key_reload_interval: config.key_reload_interval })
    }

    pub fn address(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    /// Serves until `shutdown` completes, then drains in-flight requests.
    pub async fn run_until_stopped(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let reload = tokio::spawn(keys::reload_periodically(self.state.clone(), self.master, self.key_reload_interval));
        let router = crate::http::router(self.state.clone());
        crate::connections::serve(self.listener, router, self.limits, shutdown).await;
        reload.abort();
        self.state.flush_audit().await;
        Ok(())
    }
}
