//! The PostgreSQL adapter: one database shared by any number of stateless nodes.
//!
//! Every method is one statement or one transaction at the default READ COMMITTED isolation. The
//! writes that decide races are single conditional statements (`rotate`, `redeem_code`,
//! `insert_server_secret`): when two nodes update the same row, PostgreSQL makes the second wait
//! for the first to commit and then re-evaluates its `WHERE` against the new row version, so
//! exactly one of them matches. Migrations are embedded and serialised across nodes by the
//! migrator's advisory lock (`pg_advisory_lock`, held on one connection for the whole run).
//!
//! Rotations are committed in groups (issue 14, [`crate::group_commit`]): a node has at most one
//! rotation statement in flight; the rotations that arrive meanwhile queue, and the next
//! statement carries them all, as arrays unnested into rows (`UPDATE families … FROM UNNEST(…)
//! WITH ORDINALITY … RETURNING f.*, position`): one round trip and one commit (one WAL flush)
//! for the group, each row telling which request it answers. The same per-row conditions and
//! PostgreSQL's re-check of them against a concurrent writer's committed version keep exactly
//! one winner across nodes. A rotation that finds nothing in flight runs its own statement at
//! once, as before, so the uncontended case pays no hand-off.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ratchet_core::UnixTime;
use ratchet_core::client::{Api, Client};
use ratchet_core::family::{Family, FamilyId};
use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};

use crate::*;

mod apis;
mod catalog;
mod client_grants;
mod clients;
mod dpop;
mod events;
mod families;
mod grants;
mod login_attempts;
mod secrets;
mod sessions;
mod users;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// At most this many connections per node (PostgreSQL's default `max_connections` is 100).
pub const MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a connection before the store reports `Unavailable`.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A PostgreSQL database, through a connection pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Clients and APIs read recently, kept fresh by `LISTEN ratchet_catalog` ([`crate::catalog`]).
    catalog: std::sync::Arc<catalog::Catalog>,
    /// Rotations waiting for the statement in flight to finish (see `families`).
    rotations: Arc<std::sync::Mutex<families::RotationQueue>>,
    rotation_batches: Arc<crate::group_commit::BatchCounter>,
}

/// SQLSTATE classes that mean "the server cannot serve us right now": connection exceptions
/// (`08…`), operator intervention / shutdown (`57P…`), insufficient resources (`53…`, e.g. too
/// many connections).
fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P") || code.starts_with("53")
}

pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_string()),
        sqlx::Error::Database(db) if db.code().is_some_and(|c| is_unavailable_code(&c)) => StoreError::Unavailable(e.to_string()),
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Other(e.to_string()),
    }
}

fn map_migrate_err(e: MigrateError) -> StoreError {
    match e {
        // A lost connection is worth retrying; anything else is a broken deployment.
        MigrateError::Execute(e) => match map_err(e) {
            StoreError::Unavailable(m) => StoreError::Unavailable(m),
            StoreError::Conflict(m) | StoreError::Other(m) => StoreError::Other(format!("migration failed: {m}")),
        },
        e => StoreError::Other(format!("migration failed: {e}")),
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db` or `postgresql://…`) and migrates the
    /// database. Safe when several nodes start at once: the migrator holds an advisory lock.
    pub async fn open(url: &str) -> Result<Self> {
        let opts =
            PgConnectOptions::from_str(url).map_err(|e| StoreError::Other(format!("bad PostgreSQL URL: {e}")))?.application_name("ratchet");
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A connection broken by a server restart is detected and replaced on acquire.
            .test_before_acquire(true)
            .idle_timeout(Duration::from_secs(600))
            .max_lifetime(Duration::from_secs(1800))
            .connect_with(opts)
            .await
            .map_err(map_err)?;
        if let Err(e) = MIGRATOR.run(&pool).await {
            // Closing the pool also ends the session that may still hold the advisory lock.
            pool.close().await;
            return Err(map_migrate_err(e));
        }
        Ok(PostgresStore { pool, catalog: catalog::Catalog::new(), rotations: Default::default(), rotation_batches: Default::default() })
    }

    /// The underlying pool (for diagnostics and tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// This handle's cache of clients and APIs (for diagnostics and tests).
    pub fn catalog_cache(&self) -> &crate::catalog::CatalogCache {
        &self.catalog.cache
    }
}

/// A counter as stored (BIGINT). Counters start at 0 and grow by one per rotation, so they never
/// come near `i64::MAX`; a larger value is refused rather than wrapped.
fn counter_param(counter: u64) -> Result<i64> {
    i64::try_from(counter).map_err(|_| StoreError::Other("family counter out of range".into()))
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("records serialise")
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Other(format!("corrupt record: {e}")))
}

/// One window of a listing ordered by `key` (byte order, as SQLite), and the number of rows
/// matching `conditions` (`column = value` each); `columns` are read by `row`.
/// Most rows one purge statement deletes.
const PURGE_STEP: u64 = 5_000;

async fn list_window<T>(
    pool: &PgPool,
    (table, columns, key): (&str, &str, &str),
    conditions: &[(&str, &str)],
    window: &Window,
    row: impl Fn(&PgRow) -> Result<T>,
) -> Result<(Vec<T>, u64)> {
    let mut filter: Vec<String> = conditions.iter().enumerate().map(|(i, (col, _))| format!("{col} = ${}", i + 1)).collect();
    let mut values: Vec<&str> = conditions.iter().map(|(_, v)| *v).collect();
    let where_all = if filter.is_empty() { String::new() } else { format!("WHERE {}", filter.join(" AND ")) };
    let count_sql = format!("SELECT count(*) FROM {table} {where_all}");
    let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql));
    for v in &values {
        count = count.bind(*v);
    }
    let total = count.fetch_one(pool).await.map_err(map_err)?;
    if let Some(after) = &window.after {
        filter.push(format!("{key} COLLATE \"C\" > ${}", values.len() + 1));
        values.push(after);
    }
    let where_window = if filter.is_empty() { String::new() } else { format!("WHERE {}", filter.join(" AND ")) };
    let sql = format!(
        "SELECT {columns} FROM {table} {where_window} ORDER BY {key} COLLATE \"C\" LIMIT {} OFFSET {}",
        window.limit,
        window.offset.min(i64::MAX as u64)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for v in &values {
        q = q.bind(*v);
    }
    let rows = q.fetch_all(pool).await.map_err(map_err)?;
    let items = rows.iter().map(row).collect::<Result<Vec<T>>>()?;
    Ok((items, total as u64))
}

/// Bulk changes that must happen together.
impl PostgresStore {
    /// Runs `statements` in one transaction, binding `$1` to `key` and, in the statements that use
    /// it, `$2` to `now`; returns the rows affected by the last statement.
    async fn cascade(&self, statements: &[&'static str], key: &str, now: UnixTime) -> Result<u64> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let mut affected = 0;
        for sql in statements {
            let mut q = sqlx::query(*sql).bind(key);
            if sql.contains("$2") {
                q = q.bind(now);
            }
            affected = q.execute(&mut *tx).await.map_err(map_err)?.rows_affected();
        }
        tx.commit().await.map_err(map_err)?;
        Ok(affected)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(map_err)?;
        Ok(())
    }

    async fn purge(&self, now: UnixTime, grace: i64) -> Result<u64> {
        // Each table in short steps of at most PURGE_STEP rows with a pause after each, so a large
        // purge (a million dead families, a month of events) never holds one long statement
        // against the hot path, nor keeps the database busy from one step to the next.
        let cutoff = now - grace;
        let mut n = 0;
        for (table, condition, at) in [
            ("codes", "expires_at < $1", cutoff),
            ("sessions", "expires_at < $1 OR idle_expires_at < $1", cutoff),
            ("families", "revoked_at < $1 OR expires_at < $1 OR idle_expires_at < $1", cutoff),
            (
                "grants",
                "created_at < $1 AND NOT EXISTS (SELECT 1 FROM families f WHERE f.grant_id = grants.grant_id)
                   AND NOT EXISTS (SELECT 1 FROM codes c WHERE c.grant_id = grants.grant_id)",
                cutoff,
            ),
            ("events", "at < $1", now - crate::EVENT_RETENTION),
            ("dpop_proofs", "expires_at < $1", now),
            ("login_attempts", "expires_at <= $1", now),
        ] {
            let sql = format!("DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {condition} LIMIT {PURGE_STEP}))");
            loop {
                let started = std::time::Instant::now();
                let deleted =
                    sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(at).execute(&self.pool).await.map_err(map_err)?.rows_affected();
                n += deleted;
                if deleted < PURGE_STEP {
                    break;
                }
                tokio::time::sleep(crate::purge_pause(started.elapsed())).await;
            }
        }
        Ok(n)
    }
}
