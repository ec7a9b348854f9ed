//! Housekeeping every node runs: the purge of rows that can never be used again (expired codes and
//! sessions, long-dead refresh-token families and grants, audit events past their retention,
//! spent DPoP proofs). `ratchet purge` runs the same purge once, on demand.

use std::sync::Arc;
use std::time::Duration;

use ratchet_core::UnixTime;
use ratchet_store::{Store, StoreError};

/// How long revoked or expired families and unused grants are kept before they are purged: long
/// enough to cover the opaque access tokens minted from them (their lifetime is shorter).
pub const PURGE_GRACE: i64 = 86_400;

/// How often each node purges.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// Purges once; returns how many rows were deleted.
pub async fn purge(store: &dyn Store, now: UnixTime) -> Result<u64, StoreError> {
    store.purge(now, PURGE_GRACE).await
}

/// Purges every [`PURGE_EVERY`], for as long as the server runs.
pub async fn purge_periodically(store: Arc<dyn Store>, now: impl Fn() -> UnixTime) {
    let mut tick = tokio::time::interval(PURGE_EVERY);
    loop {
        tick.tick().await;
        match purge(store.as_ref(), now()).await {
            Ok(n) if n > 0 => tracing::info!(rows = n, "purged expired rows"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purge failed"),
        }
    }
}
