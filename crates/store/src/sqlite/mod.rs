//! The embedded SQLite adapter: one file, WAL, foreign keys, migrations embedded in the binary.
//!
//! SQLite runs in-process, so a statement on a warm page cache takes microseconds: less than
//! handing it to another thread and waking the caller again (the cost that dominated the refresh
//! path when this adapter went through a driver with one worker thread per connection). So the
//! request-path methods run their statement on the calling thread. What can take long runs on
//! tokio's blocking pool instead: bulk cascades, purges, audit batches.
//!
//! All of a process's statements share one connection behind a mutex. One writer is all SQLite
//! allows anyway (and a lone writer never has to upgrade a read lock, which fails with
//! `SQLITE_BUSY` instead of waiting); reads on the same connection keep its page cache, which
//! SQLite throws away in every other connection after each write, so a read costs no system
//! calls beyond the locks (measured: separate read-only connections added ~11 system calls per
//! refresh and gained nothing on two cores). Other processes (the CLI) use their own connection;
//! SQLite's file locks and the busy timeout serialise them. Checkpoints, which copy the WAL into
//! the database file and sync it, run on a background thread instead of inside whichever commit
//! happens to fill the WAL.
//!
//! Rotations are committed in groups (issue 14, [`crate::group_commit`]) by flat combining, which
//! keeps them on the calling threads: a caller that finds the connection free runs its rotation
//! at once, as one autocommit statement (the uncontended case costs what it always did); a
//! caller that finds it busy puts its rotation in a queue and waits for the connection. Whoever
//! takes the connection next drains the queue and commits every rotation in it in one
//! `BEGIN IMMEDIATE … COMMIT` (one WAL append and one lock round instead of one per rotation),
//! leaving each caller its own outcome; a caller that then gets the connection and finds its
//! outcome there returns without a statement. No thread hand-off: the combining caller is
//! already on a thread, holding the connection it needs. Durability is unchanged: an outcome is
//! delivered only after the COMMIT that carries it, with the same `synchronous` setting.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use ratchet_core::UnixTime;
use ratchet_core::client::{Api, Client};
use ratchet_core::family::{Family, FamilyId};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Row, TransactionBehavior, params, params_from_iter};

use crate::catalog::CatalogCache;
use crate::*;

mod apis;
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

/// The schema, in order; `PRAGMA user_version` records how many are applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_management.sql"),
    include_str!("../../migrations/sqlite/0003_dpop.sql"),
    include_str!("../../migrations/sqlite/0004_brute_force.sql"),
    include_str!("../../migrations/sqlite/0005_grant_sessions.sql"),
    include_str!("../../migrations/sqlite/0006_key_rotation.sql"),
    include_str!("../../migrations/sqlite/0007_admin.sql"),
];

/// How long a statement waits for another process's write lock (e.g. a CLI command) before the
/// store reports `Unavailable`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a statement that meets another process's write lock looks again (see [`wait_for_lock`]).
const BUSY_POLL: Duration = Duration::from_micros(250);
/// Rowids the first purge step examines; later steps adapt (see [`next_purge_step`]).
const PURGE_STEP: i64 = 2_000;
/// How long one purge step should hold the database: the most a request waits behind it.
const PURGE_STEP_TARGET: Duration = Duration::from_millis(1);
/// How often the background thread copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// A SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    db: Arc<Db>,
}

struct Db {
    conn: Mutex<Connection>,
    /// Clients and APIs read recently ([`crate::catalog`]): this handle's writes invalidate their
    /// entry; another connection's commit (the CLI) changes `PRAGMA data_version` and empties it.
    catalog: CatalogCache,
    /// Rotations waiting for whoever holds `conn` next to commit them (see `families`).
    rotations: Mutex<Vec<Arc<families::Waiting>>>,
    rotation_batches: crate::group_commit::BatchCounter,
    /// Set by the checkpoint thread: the next statement finishes its checkpoint.
    checkpoint_due: AtomicBool,
    /// Dropping it (with the last store handle) stops the checkpoint thread.
    _stop_checkpoints: mpsc::Sender<()>,
}

fn map_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) => match f.code {
            ErrorCode::ConstraintViolation
                if matches!(f.extended_code, rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY) =>
            {
                StoreError::Conflict(msg.clone().unwrap_or_else(|| e.to_string()))
            }
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::OutOfMemory => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Other(e.to_string()),
        },
        _ => StoreError::Other(e.to_string()),
    }
}

/// The file path of a `sqlite://path` (or `sqlite:path`) URL; a `?query` is ignored.
fn path_of(url: &str) -> Result<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Other(format!("bad SQLite URL (expected sqlite://path/to/file.db): {url}")));
    }
    Ok(PathBuf::from(path))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a connection was held leaves nothing half-done: an open transaction rolled
    // back when it was dropped during unwinding.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn connect(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_handler(Some(wait_for_lock))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// SQLite's busy handler: called with the number of earlier calls for the same statement when
/// another process holds the write lock; `true` tries again.
///
/// SQLite's own busy timeout sleeps 1, 2, 5, 10 … up to 100 ms between tries, so a request that
/// meets another process's short write (a `ratchet purge` step, a CLI command) sleeps long after
/// the lock is free, while it holds the connection every other request of this process waits for.
/// Looking again every [`BUSY_POLL`] (a wake-up costs microseconds) bounds that wait by the other
/// writer's hold, up to [`BUSY_TIMEOUT`] in all.
fn wait_for_lock(tries: i32) -> bool {
    if u128::try_from(tries).unwrap_or(u128::MAX) >= BUSY_TIMEOUT.as_micros() / BUSY_POLL.as_micros() {
        return false;
    }
    std::thread::sleep(BUSY_POLL);
    true
}

/// The size of the next purge step, from the size and duration of the last one: steps grow or
/// shrink so each holds the database for about [`PURGE_STEP_TARGET`], whatever the rows cost to
/// examine and delete (dead rows with many indexes cost far more than live rows skipped).
fn next_purge_step(step: i64, took: Duration) -> i64 {
    let target = PURGE_STEP_TARGET.as_nanos() as f64;
    let took = took.as_nanos().max(1) as f64;
    // At most doubling or halving per step, so one odd step (a page fault) changes little.
    let scaled = (step as f64 * (target / took).clamp(0.5, 2.0)) as i64;
    scaled.clamp(PURGE_STEP / 20, PURGE_STEP * 10)
}

/// Applies the migrations the database does not have yet, in one transaction that holds the
/// write lock from the start, so two processes opening a new file at once migrate it once.
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut applied: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if applied == 0 {
        // Databases created by the earlier sqlx-based adapter record migrations in a table.
        let legacy = tx.query_row("SELECT name FROM sqlite_master WHERE name = '_sqlx_migrations'", [], |_| Ok(())).optional()?;
        if legacy.is_some() {
            applied = tx.query_row("SELECT count(*) FROM _sqlx_migrations WHERE success", [], |r| r.get(0))?;
        }
    }
    for sql in MIGRATIONS.iter().skip(applied as usize) {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len().max(applied as usize) as u32)?;
    tx.commit()
}

/// Copies the WAL into the database file every [`CHECKPOINT_EVERY`] until the store is dropped.
///
/// A checkpoint can only finish when no writer appends meanwhile, and only a finished one lets
/// the next write start the WAL over; with checkpoints that never finish, the WAL grows without
/// bound. So each round has two phases: a passive checkpoint on this thread's own connection,
/// concurrent with request writes, does the bulk of the copying and syncing; then it asks the
/// shared connection to checkpoint the few frames appended meanwhile, which the next statement
/// does while it holds the connection (see [`SqliteStore::run`]).
fn checkpoint_loop(db: Weak<Db>, own: Connection, stop: mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        let Some(db) = db.upgrade() else { return };
        // While another process writes a lot (a `ratchet purge`), one passive round leaves many
        // frames behind; copy them here, not in the request that takes the connection next.
        for _ in 0..CHECKPOINT_ROUNDS {
            match own.query_row(PASSIVE_CHECKPOINT, [], |r| Ok(r.get::<_, i64>(1)? - r.get::<_, i64>(2)?)) {
                Ok(left) if left > CHECKPOINT_LEFT_FOR_REQUESTS => continue,
                result => {
                    report_checkpoint_failure(result.map(drop));
                    break;
                }
            }
        }
        db.checkpoint_due.store(true, Ordering::Release);
    }
}

/// Passive checkpoint rounds the background thread makes at most before handing the rest over.
const CHECKPOINT_ROUNDS: usize = 4;
/// WAL frames the background thread leaves to the request-path checkpoint: a few pages' copy.
const CHECKPOINT_LEFT_FOR_REQUESTS: i64 = 64;

const PASSIVE_CHECKPOINT: &str = "PRAGMA wal_checkpoint(PASSIVE)";

/// Another process checkpointing at the same moment is no problem; anything else is reported (the
/// next round tries again).
fn report_checkpoint_failure(result: rusqlite::Result<()>) {
    if let Err(e) = result.map_err(map_err)
        && !matches!(e, StoreError::Unavailable(_))
    {
        eprintln!("sqlite checkpoint failed: {e}");
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path`) and migrates it.
    pub async fn open(url: &str) -> Result<Self> {
        let path = path_of(url)?;
        tokio::task::spawn_blocking(move || Self::open_blocking(&path))
            .await
            .map_err(|e| StoreError::Other(format!("opening the database failed: {e}")))?
    }

    fn open_blocking(path: &Path) -> Result<Self> {
        create_private(path)?;
        let mut conn = connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(map_err)?;
        // Switching a new file to WAL needs it to itself, and SQLite reports a concurrent opener
        // as busy without calling the busy handler: wait here instead.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        while let Err(e) = conn.pragma_update(None, "journal_mode", "WAL") {
            if e.sqlite_error_code() != Some(ErrorCode::DatabaseBusy) || std::time::Instant::now() > deadline {
                return Err(map_err(e));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(map_err)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(map_err)?;
        // Checkpoints happen on the background thread, not inside a request's commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(map_err)?;
        // After a burst, the WAL file shrinks back to this size when it next starts over.
        conn.pragma_update(None, "journal_size_limit", 64 << 20).map_err(map_err)?;
        migrate(&mut conn).map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        let checkpointer = connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(map_err)?;
        let (stop, stopped) = mpsc::channel();
        let db = Arc::new(Db {
            conn: Mutex::new(conn),
            catalog: CatalogCache::new(true),
            rotations: Mutex::new(Vec::new()),
            rotation_batches: Default::default(),
            checkpoint_due: AtomicBool::new(false),
            _stop_checkpoints: stop,
        });
        let weak = Arc::downgrade(&db);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(weak, checkpointer, stopped))
            .map_err(|e| StoreError::Other(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(SqliteStore { db })
    }

    /// This handle's cache of clients and APIs (for diagnostics and tests).
    pub fn catalog_cache(&self) -> &CatalogCache {
        &self.db.catalog
    }

    /// Runs `f` on the connection, on this thread (request-path statements: short and few).
    fn run<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.run_locked(lock(&self.db.conn), |c| f(c).map_err(map_err))
    }

    /// Runs `f` on the connection already held as `conn`, then releases it (after a checkpoint
    /// the background thread asked for, if any).
    fn run_locked<T>(&self, mut conn: MutexGuard<'_, Connection>, f: impl FnOnce(&mut Connection) -> T) -> T {
        let result = f(&mut conn);
        if self.db.checkpoint_due.swap(false, Ordering::Acquire) {
            report_checkpoint_failure(conn.query_row(PASSIVE_CHECKPOINT, [], |_| Ok(())));
        }
        result
    }

    /// Runs `f` on the connection on tokio's blocking pool (work whose size the request does not
    /// bound: cascades over a user's rows, purges, audit batches).
    async fn run_in_background<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.run(f)).await.map_err(|e| StoreError::Other(format!("database task failed: {e}")))?
    }

    /// Deletes the rows of `table` that meet `condition` (with `?1` bound to `at`), a window of
    /// rowids at a time: every step holds the database for about [`PURGE_STEP_TARGET`], then
    /// leaves it free for three times as long ([`crate::purge_pause`]), so requests go on between the steps of a purge of any size (a
    /// single `DELETE` of a month of audit rows would stall every request for seconds). The pause
    /// matters when the purge runs in another process (`ratchet purge`): there, nothing else
    /// would let the server's writes in between two steps.
    async fn delete_in_steps(&self, table: &'static str, condition: &'static str, at: UnixTime) -> Result<u64> {
        let last: i64 = self.run(|c| c.query_row(&format!("SELECT coalesce(max(rowid), 0) FROM {table}"), [], |r| r.get(0)))?;
        let sql: Arc<str> = format!("DELETE FROM {table} WHERE rowid > ?2 AND rowid <= ?3 AND ({condition})").into();
        let (mut deleted, mut from, mut step) = (0, 0, PURGE_STEP);
        while from < last {
            let sql = sql.clone();
            let started = std::time::Instant::now();
            deleted += self.run_in_background(move |c| c.prepare_cached(&sql)?.execute(params![at, from, from + step])).await?;
            let took = started.elapsed();
            from += step;
            step = next_purge_step(step, took);
            tokio::time::sleep(crate::purge_pause(took)).await;
        }
        Ok(deleted as u64)
    }

    /// Runs `statements` in one transaction, binding `?1` to `key` and, in the statements that use
    /// it, `?2` to `now`; returns the rows affected by the last statement.
    async fn cascade(&self, statements: &'static [&'static str], key: &str, now: UnixTime) -> Result<u64> {
        let key = key.to_string();
        self.run_in_background(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut affected = 0;
            for sql in statements {
                let mut stmt = tx.prepare_cached(sql)?;
                affected = if sql.contains("?2") { stmt.execute(params![key, now])? } else { stmt.execute(params![key])? };
            }
            tx.commit()?;
            Ok(affected as u64)
        })
        .await
    }
}

/// One window of a listing ordered by `key`, and the number of rows matching `conditions`
/// (`column = value` each): `SELECT {columns} FROM {table} WHERE … ORDER BY {key} LIMIT … OFFSET …`
/// on the index of `key` (and of the filtered column), then `count(*)` with the same conditions.
fn list_window<T>(
    c: &mut Connection,
    (table, columns, key): (&str, &str, &str),
    conditions: &[(&str, &str)],
    window: &Window,
    row: impl Fn(&Row) -> rusqlite::Result<T>,
) -> rusqlite::Result<(Vec<T>, u64)> {
    let mut filter: Vec<String> = conditions.iter().map(|(col, _)| format!("{col} = ?")).collect();
    let mut values: Vec<&str> = conditions.iter().map(|(_, v)| *v).collect();
    let where_all = if filter.is_empty() { String::new() } else { format!("WHERE {}", filter.join(" AND ")) };
    let total: i64 =
        c.prepare_cached(&format!("SELECT count(*) FROM {table} {where_all}"))?.query_row(params_from_iter(&values), |r| r.get(0))?;
    if let Some(after) = &window.after {
        filter.push(format!("{key} > ?"));
        values.push(after);
    }
    let where_window = if filter.is_empty() { String::new() } else { format!("WHERE {}", filter.join(" AND ")) };
    let sql = format!(
        "SELECT {columns} FROM {table} {where_window} ORDER BY {key} LIMIT {} OFFSET {}",
        window.limit,
        window.offset.min(i64::MAX as u64)
    );
    let items = c.prepare_cached(&sql)?.query_map(params_from_iter(&values), |r| row(r))?.collect::<rusqlite::Result<Vec<T>>>()?;
    Ok((items, total as u64))
}

/// Empties the catalog cache if another connection committed since the last look: `PRAGMA
/// data_version` changes exactly then (not for this connection's own commits, nor checkpoints),
/// and reading it costs no more than starting a read transaction.
fn observe_other_connections(c: &Connection, cache: &CatalogCache) -> rusqlite::Result<()> {
    let version: i64 = c.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))?;
    cache.observe_version(version);
    Ok(())
}

fn corrupt(what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, format!("corrupt record: {what}").into())
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("records serialise")
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s).map_err(|e| corrupt(&e.to_string()))
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        self.run(|c| c.query_row("SELECT 1", [], |_| Ok(())))
    }

    async fn purge(&self, now: UnixTime, grace: i64) -> Result<u64> {
        let cutoff = now - grace;
        let mut n = 0;
        for (table, condition) in [
            ("codes", "expires_at < ?1"),
            ("sessions", "expires_at < ?1 OR idle_expires_at < ?1"),
            ("families", "revoked_at < ?1 OR expires_at < ?1 OR idle_expires_at < ?1"),
            (
                "grants",
                "created_at < ?1 AND NOT EXISTS (SELECT 1 FROM families f WHERE f.grant_id = grants.grant_id)
                   AND NOT EXISTS (SELECT 1 FROM codes c WHERE c.grant_id = grants.grant_id)",
            ),
        ] {
            n += self.delete_in_steps(table, condition, cutoff).await?;
        }
        n += self.delete_in_steps("events", "at < ?1", now - crate::EVENT_RETENTION).await?;
        n += self.delete_in_steps("dpop_proofs", "expires_at < ?1", now).await?;
        n += self.delete_in_steps("login_attempts", "expires_at <= ?1", now).await?;
        Ok(n)
    }
}

/// Creates the database file readable and writable by its owner only (0600) if it does not
/// exist yet; SQLite gives its `-wal` and `-shm` files the database file's permissions. The file
/// holds hashes of secrets and sealed keys: no other local user has any business reading it.
fn create_private(path: &Path) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Other(format!("cannot create the database file {}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn sqlite_database_files_are_created_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("private.db");
        let store = SqliteStore::open(&format!("sqlite://{}", db.display())).await.unwrap();
        store.ping().await.unwrap();
        for file in [db.clone(), dir.path().join("private.db-wal"), dir.path().join("private.db-shm")] {
            let mode = std::fs::metadata(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())).permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        }
    }

    fn user_version(path: &Path) -> u32 {
        Connection::open(path).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
    }

    #[tokio::test]
    async fn reopening_applies_no_migration_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let url = format!("sqlite://{}", path.display());
        SqliteStore::open(&url).await.unwrap();
        assert_eq!(user_version(&path), MIGRATIONS.len() as u32);
        SqliteStore::open(&url).await.unwrap().ping().await.unwrap();
    }

    #[tokio::test]
    async fn a_database_migrated_by_the_earlier_sqlx_adapter_is_taken_as_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, success BOOLEAN NOT NULL);
                 INSERT INTO _sqlx_migrations VALUES (1, TRUE);
                 INSERT INTO clients (client_id, data) VALUES ('kept', '{}');",
            )
            .unwrap();
        }
        SqliteStore::open(&format!("sqlite://{}", path.display())).await.unwrap();
        // Its first migration is recognised as applied; only the later ones run.
        assert_eq!(user_version(&path), MIGRATIONS.len() as u32);
        let kept: i64 = Connection::open(&path).unwrap().query_row("SELECT count(*) FROM clients", [], |r| r.get(0)).unwrap();
        assert_eq!(kept, 1, "nothing stored is lost");
    }

    #[tokio::test]
    async fn the_wal_stays_bounded_under_continuous_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let store = SqliteStore::open(&format!("sqlite://{}", path.display())).await.unwrap();
        let wal_bytes = || std::fs::metadata(dir.path().join("wal.db-wal")).map(|m| m.len()).unwrap_or(0);
        // Writes never pause for more than a millisecond, as under load: only checkpoints that
        // finish between two writes let the WAL start over.
        let start = std::time::Instant::now();
        let (mut rows, mut sizes) = (0u64, Vec::new());
        for second in 1..=3 {
            while start.elapsed() < CHECKPOINT_EVERY * 2 * second {
                store.insert_server_secret(&format!("test-{rows}"), 1, &[7u8; 3000], 0, 0).await.unwrap();
                rows += 1;
                if rows % 20 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            sizes.push(wal_bytes());
        }
        assert!(sizes[0] > 1_000_000, "the writes went through the WAL: {sizes:?}");
        assert!(sizes[2] < sizes[0] * 2, "the WAL does not keep growing: {sizes:?}");
        assert_eq!(store.server_secrets(&format!("test-{}", rows - 1)).await.unwrap().len(), 1, "nothing written is lost");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_connections_opening_a_new_file_at_once_both_migrate_it() {
        for _ in 0..10 {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("new.db").display());
            let (a, b) = tokio::join!(SqliteStore::open(&url), SqliteStore::open(&url));
            a.unwrap().ping().await.unwrap();
            b.unwrap().ping().await.unwrap();
        }
    }

    #[tokio::test]
    async fn purge_deletes_more_rows_than_one_step_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&format!("sqlite://{}", dir.path().join("p.db").display())).await.unwrap();
        let now = 10 * crate::EVENT_RETENTION;
        let old = now - crate::EVENT_RETENTION - 1;
        let event = |at| Event {
            at,
            kind: "sertft".into(),
            client_id: None,
            user_id: Some("u".into()),
            description: "d".into(),
            details: serde_json::json!({}),
            ..Event::default()
        };
        // Old and recent rows interleaved, over several steps.
        let events: Vec<Event> = (0..3 * PURGE_STEP).map(|i| event(if i % 3 == 0 { now } else { old })).collect();
        store.record_many(&events).await.unwrap();
        assert_eq!(store.purge(now, 86_400).await.unwrap(), 2 * PURGE_STEP as u64);
        let left = store.events(&EventQuery { limit: u32::MAX, ..Default::default() }).await.unwrap();
        assert_eq!(left.len(), PURGE_STEP as usize);
        assert!(left.iter().all(|e| e.at == now), "only the recent rows stay");
    }

    /// The catalog cache trusts `PRAGMA data_version`: a commit by another connection (the CLI)
    /// must change it, and the checkpoint thread's connection, which commits nothing, must not
    /// (or it would empty the cache every half second).
    #[tokio::test]
    async fn another_connections_commit_empties_the_catalog_cache_but_a_checkpoint_does_not() {
        use ratchet_core::client::NewClient;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let store = SqliteStore::open(&format!("sqlite://{}", path.display())).await.unwrap();
        let new = NewClient { name: "App".into(), app_type: None, callbacks: vec![], logout_urls: vec![], web_origins: vec![] };
        store.insert_client(&Client::new("c1".into(), new, 0).unwrap(), Some("hash-1")).await.unwrap();
        assert_eq!(store.client("c1").await.unwrap().unwrap().secret_hash.as_deref(), Some("hash-1"));
        assert_eq!(store.catalog_cache().len(), (1, 0), "the client is cached");
        let other = connect(&path, OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap();
        other.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        store.client("c1").await.unwrap();
        assert_eq!(store.catalog_cache().len(), (1, 0), "a checkpoint by another connection keeps the cache");
        other.execute("UPDATE clients SET secret_hash = 'hash-2' WHERE client_id = 'c1'", []).unwrap();
        assert_eq!(
            store.client("c1").await.unwrap().unwrap().secret_hash.as_deref(),
            Some("hash-2"),
            "the other connection's commit is seen"
        );
        // This handle's own writes do not change its data_version: they invalidate directly.
        assert!(store.set_client_secret("c1", "hash-3").await.unwrap());
        assert_eq!(store.client("c1").await.unwrap().unwrap().secret_hash.as_deref(), Some("hash-3"));
    }

    #[test]
    fn purge_steps_adapt_to_hold_the_database_about_the_target_time() {
        let target = PURGE_STEP_TARGET;
        assert_eq!(next_purge_step(2_000, target), 2_000, "on target: unchanged");
        assert_eq!(next_purge_step(2_000, target * 4), 1_000, "slow: at most halved per step");
        assert_eq!(next_purge_step(2_000, target / 4), 4_000, "fast: at most doubled per step");
        assert_eq!(next_purge_step(2_000, target * 5 / 4), 1_600);
        assert_eq!(next_purge_step(PURGE_STEP / 20, Duration::from_secs(1)), PURGE_STEP / 20, "never below the floor");
        assert_eq!(next_purge_step(PURGE_STEP * 10, Duration::ZERO), PURGE_STEP * 10, "never above the ceiling");
    }

    #[tokio::test]
    async fn a_write_waits_for_another_process_lock_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("locked.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        // Another connection (as another process would) holds the write lock for 50 ms.
        let other = connect(&dir.path().join("locked.db"), OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            other.execute_batch("COMMIT").unwrap();
        });
        let started = std::time::Instant::now();
        store.run(|c| c.execute_batch("CREATE TABLE t (x)")).unwrap();
        let waited = started.elapsed();
        release.join().unwrap();
        assert!(waited >= Duration::from_millis(45), "the write waited for the lock ({waited:?})");
    }

    #[test]
    fn urls_name_a_file() {
        assert_eq!(path_of("sqlite://ratchet.db").unwrap(), PathBuf::from("ratchet.db"));
        assert_eq!(path_of("sqlite:///var/lib/r.db?mode=rwc").unwrap(), PathBuf::from("/var/lib/r.db"));
        assert!(path_of("sqlite::memory:").is_err());
        assert!(path_of("sqlite://").is_err());
    }
}
