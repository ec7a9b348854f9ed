//! The PostgreSQL side of the catalog cache ([`crate::catalog`]): triggers on `clients` and
//! `apis` (migration `0008_catalog_notify.sql`) send `NOTIFY ratchet_catalog, '<kind>:<key>'` in
//! the writing transaction, so the notification goes out exactly when the change commits, whoever
//! made it (any node, the CLI, `psql`). Each store handle listens on a dedicated connection from
//! its pool, started by its first catalog read (a CLI command that never reads a client opens no
//! listener), and stopped when the last handle is dropped.
//!
//! The cache is trusted only while that connection is listening: until `LISTEN` succeeds, and
//! from the moment the connection fails until a new one is listening again, it is empty and
//! bypassed, so a notification missed while disconnected can never leave a stale entry behind.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::oneshot;

use crate::catalog::{CHANNEL, CatalogCache, Invalidation};

/// How long to wait before listening again after the connection failed.
const RELISTEN_AFTER: std::time::Duration = std::time::Duration::from_millis(250);

/// The cache of one store handle (and its clones) and its listener.
pub(crate) struct Catalog {
    pub(crate) cache: CatalogCache,
    started: AtomicBool,
    /// Dropped with the last store handle: stops the listener.
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl Catalog {
    pub(crate) fn new() -> Arc<Catalog> {
        Arc::new(Catalog { cache: CatalogCache::new(false), started: AtomicBool::new(false), stop: Mutex::new(None) })
    }

    /// Starts the listener unless it runs already (must be called within a tokio runtime).
    pub(crate) fn listen(self: &Arc<Self>, pool: &PgPool) {
        // A load first: every catalog read calls this, and only the first one needs the write.
        if self.started.load(Ordering::Acquire) || self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let (stop, stopped) = oneshot::channel();
        *self.stop.lock().unwrap_or_else(|p| p.into_inner()) = Some(stop);
        tokio::spawn(listen_loop(Arc::downgrade(self), pool.clone(), stopped));
    }
}

async fn listen_loop(catalog: Weak<Catalog>, pool: PgPool, mut stopped: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            () = listen_once(&catalog, &pool) => {}
        }
        if catalog.upgrade().is_none() {
            return;
        }
        tokio::select! {
            _ = &mut stopped => return,
            () = tokio::time::sleep(RELISTEN_AFTER) => {}
        }
    }
}

/// Listens until the connection fails; the cache is trusted exactly while it listens.
async fn listen_once(catalog: &Weak<Catalog>, pool: &PgPool) {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(l) => l,
        // The database is unreachable: reads go to it (and fail) until it is back.
        Err(_) => return,
    };
    // A lost connection ends this listener; the loop starts a fresh one and says when it listens.
    listener.eager_reconnect(false);
    if listener.listen(CHANNEL).await.is_err() {
        return;
    }
    match catalog.upgrade() {
        Some(c) => c.cache.resume(),
        None => return,
    }
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => match catalog.upgrade() {
                Some(c) => c.cache.invalidate(&Invalidation::from_payload(n.payload())),
                None => return,
            },
            Ok(None) | Err(_) => {
                if let Some(c) = catalog.upgrade() {
                    c.cache.suspend();
                }
                return;
            }
        }
    }
}
