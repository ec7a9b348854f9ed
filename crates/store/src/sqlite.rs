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

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use ratchet_core::UnixTime;
use ratchet_core::client::{Api, Client};
use ratchet_core::family::{Family, FamilyId};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};

use crate::{AuthCode, Event, EventQuery, FamilyFilter, Redemption, Result, Rotated, Session, Store, StoreError, StoredClient, User};

/// The schema, in order; `PRAGMA user_version` records how many are applied.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/sqlite/0001_init.sql")];

/// How long a statement waits for another process's write lock (e.g. a CLI command) before the
/// store reports `Unavailable`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Rowids a purge step examines: about a millisecond of holding the connection.
const PURGE_STEP: i64 = 2_000;
/// How often the background thread copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// A SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    db: Arc<Db>,
}

struct Db {
    conn: Mutex<Connection>,
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

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while a connection was held leaves nothing half-done: an open transaction rolled
    // back when it was dropped during unwinding.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn connect(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
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
        report_checkpoint_failure(own.query_row(PASSIVE_CHECKPOINT, [], |_| Ok(())));
        db.checkpoint_due.store(true, Ordering::Release);
    }
}

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
        let db = Arc::new(Db { conn: Mutex::new(conn), checkpoint_due: AtomicBool::new(false), _stop_checkpoints: stop });
        let weak = Arc::downgrade(&db);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(weak, checkpointer, stopped))
            .map_err(|e| StoreError::Other(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(SqliteStore { db })
    }

    /// Runs `f` on the connection, on this thread (request-path statements: short and few).
    fn run<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        let mut conn = lock(&self.db.conn);
        let result = f(&mut conn).map_err(map_err);
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
    /// [`PURGE_STEP`] rowids at a time: every step holds the shared connection briefly, so
    /// requests go on between the steps of a purge of any size (a single `DELETE` of a month of
    /// audit rows would stall every request for seconds).
    async fn delete_in_steps(&self, table: &'static str, condition: &'static str, at: UnixTime) -> Result<u64> {
        let last: i64 = self.run(|c| c.query_row(&format!("SELECT coalesce(max(rowid), 0) FROM {table}"), [], |r| r.get(0)))?;
        let sql: Arc<str> = format!("DELETE FROM {table} WHERE rowid > ?2 AND rowid <= ?3 AND ({condition})").into();
        let mut deleted = 0;
        for from in (0..last).step_by(PURGE_STEP as usize) {
            let sql = sql.clone();
            deleted += self.run_in_background(move |c| c.prepare_cached(&sql)?.execute(params![at, from, from + PURGE_STEP])).await?;
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

fn user_from(r: &Row) -> rusqlite::Result<User> {
    Ok(User {
        user_id: r.get("user_id")?,
        email: r.get("email")?,
        name: r.get("name")?,
        password_hash: r.get("password_hash")?,
        blocked: r.get("blocked")?,
        created_at: r.get("created_at")?,
    })
}

fn session_from(r: &Row) -> rusqlite::Result<Session> {
    Ok(Session {
        id_hash: r.get("id_hash")?,
        user_id: r.get("user_id")?,
        auth_time: r.get("auth_time")?,
        expires_at: r.get("expires_at")?,
        idle_expires_at: r.get("idle_expires_at")?,
    })
}

fn code_from(r: &Row) -> rusqlite::Result<AuthCode> {
    Ok(AuthCode {
        code_hash: r.get("code_hash")?,
        grant_id: r.get("grant_id")?,
        client_id: r.get("client_id")?,
        user_id: r.get("user_id")?,
        session_id: r.get("session_id")?,
        redirect_uri: r.get("redirect_uri")?,
        code_challenge: r.get("code_challenge")?,
        scope: r.get("scope")?,
        audience: r.get("audience")?,
        nonce: r.get("nonce")?,
        auth_time: r.get("auth_time")?,
        expires_at: r.get("expires_at")?,
    })
}

fn family_from(r: &Row) -> rusqlite::Result<Family> {
    let id: String = r.get("family_id")?;
    Ok(Family {
        id: FamilyId::parse(&id).ok_or_else(|| corrupt("family id"))?,
        grant_id: r.get("grant_id")?,
        client_id: r.get("client_id")?,
        user_id: r.get("user_id")?,
        session_id: r.get("session_id")?,
        audience: r.get("audience")?,
        scope: r.get("scope")?,
        rotating: r.get("rotating")?,
        counter: r.get::<_, i64>("counter")? as u64,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        idle_expires_at: r.get("idle_expires_at")?,
        rotated_at: r.get("rotated_at")?,
        revoked_at: r.get("revoked_at")?,
        auth_time: r.get("auth_time")?,
    })
}

fn event_from(r: &Row) -> rusqlite::Result<Event> {
    Ok(Event {
        at: r.get("at")?,
        kind: r.get("type")?,
        client_id: r.get("client_id")?,
        user_id: r.get("user_id")?,
        description: r.get("description")?,
        details: from_json(&r.get::<_, String>("details")?)?,
    })
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

    async fn server_secrets(&self, kind: &str) -> Result<Vec<(u8, Vec<u8>)>> {
        self.run(|c| {
            let mut stmt = c.prepare_cached("SELECT kid, sealed FROM server_secrets WHERE kind = ?1 ORDER BY kid")?;
            stmt.query_map([kind], |r| Ok((r.get::<_, u8>(0)?, r.get(1)?)))?.collect()
        })
    }

    async fn insert_server_secret(&self, kind: &str, kid: u8, sealed: &[u8], now: UnixTime) -> Result<bool> {
        self.run(|c| {
            c.prepare_cached("INSERT INTO server_secrets (kind, kid, sealed, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING")?
                .execute(params![kind, kid, sealed, now])
        })
        .map(|n| n == 1)
    }

    async fn insert_client(&self, client: &Client, secret_hash: Option<&str>) -> Result<()> {
        self.run(|c| {
            c.prepare_cached("INSERT INTO clients (client_id, secret_hash, data) VALUES (?1, ?2, ?3)")?.execute(params![
                client.client_id,
                secret_hash,
                json(client)
            ])
        })
        .map(drop)
    }

    async fn update_client(&self, client: &Client) -> Result<bool> {
        self.run(|c| {
            c.prepare_cached("UPDATE clients SET data = ?2 WHERE client_id = ?1")?.execute(params![client.client_id, json(client)])
        })
        .map(|n| n == 1)
    }

    async fn client(&self, client_id: &str) -> Result<Option<StoredClient>> {
        self.run(|c| {
            c.prepare_cached("SELECT secret_hash, data FROM clients WHERE client_id = ?1")?
                .query_row([client_id], |r| Ok(StoredClient { secret_hash: r.get(0)?, client: from_json(&r.get::<_, String>(1)?)? }))
                .optional()
        })
    }

    async fn clients(&self) -> Result<Vec<Client>> {
        self.run(|c| {
            c.prepare_cached("SELECT data FROM clients ORDER BY client_id")?
                .query_map([], |r| from_json(&r.get::<_, String>(0)?))?
                .collect()
        })
    }

    async fn delete_client(&self, client_id: &str, now: UnixTime) -> Result<bool> {
        let deleted = self
            .cascade(
                &[
                    "UPDATE families SET revoked_at = ?2 WHERE client_id = ?1 AND revoked_at IS NULL",
                    "UPDATE grants SET revoked_at = ?2 WHERE client_id = ?1 AND revoked_at IS NULL",
                    "DELETE FROM codes WHERE client_id = ?1",
                    "DELETE FROM clients WHERE client_id = ?1",
                ],
                client_id,
                now,
            )
            .await?;
        Ok(deleted == 1)
    }

    async fn insert_api(&self, api: &Api) -> Result<()> {
        self.run(|c| {
            c.prepare_cached("INSERT INTO apis (id, identifier, data) VALUES (?1, ?2, ?3)")?.execute(params![
                api.id,
                api.identifier,
                json(api)
            ])
        })
        .map(drop)
    }

    async fn api(&self, identifier: &str) -> Result<Option<Api>> {
        self.run(|c| {
            c.prepare_cached("SELECT data FROM apis WHERE identifier = ?1")?
                .query_row([identifier], |r| from_json(&r.get::<_, String>(0)?))
                .optional()
        })
    }

    async fn insert_user(&self, u: &User) -> Result<()> {
        self.run(|c| {
            c.prepare_cached(
                "INSERT INTO users (user_id, email, name, password_hash, blocked, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![u.user_id, u.email, u.name, u.password_hash, u.blocked, u.created_at])
        })
        .map(drop)
    }

    async fn user(&self, user_id: &str) -> Result<Option<User>> {
        self.run(|c| c.prepare_cached("SELECT * FROM users WHERE user_id = ?1")?.query_row([user_id], user_from).optional())
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        self.run(|c| c.prepare_cached("SELECT * FROM users WHERE email = ?1")?.query_row([email], user_from).optional())
    }

    async fn set_user_blocked(&self, user_id: &str, blocked: bool, now: UnixTime) -> Result<bool> {
        let statements: &'static [&'static str] = if blocked {
            &[
                "DELETE FROM sessions WHERE user_id = ?1",
                "UPDATE families SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                "UPDATE grants SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                "UPDATE users SET blocked = 1 WHERE user_id = ?1",
            ]
        } else {
            &["UPDATE users SET blocked = 0 WHERE user_id = ?1"]
        };
        Ok(self.cascade(statements, user_id, now).await? == 1)
    }

    async fn delete_user(&self, user_id: &str, now: UnixTime) -> Result<bool> {
        let deleted = self
            .cascade(
                &[
                    "UPDATE families SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                    "UPDATE grants SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                    "DELETE FROM codes WHERE user_id = ?1",
                    "DELETE FROM users WHERE user_id = ?1",
                ],
                user_id,
                now,
            )
            .await?;
        Ok(deleted == 1)
    }

    async fn insert_session(&self, s: &Session) -> Result<()> {
        self.run(|c| {
            c.prepare_cached("INSERT INTO sessions (id_hash, user_id, auth_time, expires_at, idle_expires_at) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(params![s.id_hash, s.user_id, s.auth_time, s.expires_at, s.idle_expires_at])
        })
        .map(drop)
    }

    async fn session(&self, id_hash: &str) -> Result<Option<Session>> {
        self.run(|c| c.prepare_cached("SELECT * FROM sessions WHERE id_hash = ?1")?.query_row([id_hash], session_from).optional())
    }

    async fn touch_session(&self, id_hash: &str, idle_expires_at: UnixTime) -> Result<()> {
        self.run(|c| {
            c.prepare_cached("UPDATE sessions SET idle_expires_at = MIN(?2, expires_at) WHERE id_hash = ?1")?
                .execute(params![id_hash, idle_expires_at])
        })
        .map(drop)
    }

    async fn delete_session(&self, id_hash: &str, revoke_families: bool, now: UnixTime) -> Result<bool> {
        const REVOKE: &str = "UPDATE families SET revoked_at = ?2 WHERE session_id = ?1 AND revoked_at IS NULL";
        const DELETE: &str = "DELETE FROM sessions WHERE id_hash = ?1";
        let statements: &'static [&'static str] = if revoke_families { &[REVOKE, DELETE] } else { &[DELETE] };
        Ok(self.cascade(statements, id_hash, now).await? == 1)
    }

    async fn insert_code(&self, code: &AuthCode, now: UnixTime) -> Result<()> {
        self.run(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached("INSERT INTO grants (grant_id, client_id, user_id, created_at) VALUES (?1, ?2, ?3, ?4)")?.execute(params![
                code.grant_id,
                code.client_id,
                code.user_id,
                now
            ])?;
            tx.prepare_cached(
                "INSERT INTO codes (code_hash, grant_id, client_id, user_id, session_id, redirect_uri, code_challenge, scope, audience, nonce, auth_time, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                code.code_hash,
                code.grant_id,
                code.client_id,
                code.user_id,
                code.session_id,
                code.redirect_uri,
                code.code_challenge,
                code.scope,
                code.audience,
                code.nonce,
                code.auth_time,
                code.expires_at
            ])?;
            tx.commit()
        })
    }

    async fn redeem_code(&self, code_hash: &str, now: UnixTime) -> Result<Redemption> {
        self.run(|c| {
            let fresh = c
                .prepare_cached("UPDATE codes SET used_at = ?2 WHERE code_hash = ?1 AND used_at IS NULL RETURNING *")?
                .query_row(params![code_hash, now], code_from)
                .optional()?;
            if let Some(code) = fresh {
                return Ok(Redemption::Fresh(code));
            }
            let spent = c.prepare_cached("SELECT * FROM codes WHERE code_hash = ?1")?.query_row([code_hash], code_from).optional()?;
            Ok(spent.map_or(Redemption::NotFound, Redemption::Replayed))
        })
    }

    async fn revoke_grant(&self, grant_id: &str, now: UnixTime) -> Result<()> {
        self.cascade(
            &[
                "UPDATE grants SET revoked_at = ?2 WHERE grant_id = ?1 AND revoked_at IS NULL",
                "UPDATE families SET revoked_at = ?2 WHERE grant_id = ?1 AND revoked_at IS NULL",
            ],
            grant_id,
            now,
        )
        .await
        .map(drop)
    }

    async fn grant_is_live(&self, grant_id: &str) -> Result<bool> {
        self.run(|c| c.prepare_cached("SELECT 1 FROM grants WHERE grant_id = ?1 AND revoked_at IS NULL")?.exists([grant_id]))
    }

    async fn insert_family(&self, f: &Family) -> Result<()> {
        self.run(|c| {
            c.prepare_cached(
                "INSERT INTO families (family_id, grant_id, client_id, user_id, session_id, audience, scope, rotating, counter, created_at, expires_at, idle_expires_at, rotated_at, revoked_at, auth_time)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?
            .execute(params![
                f.id.to_string(),
                f.grant_id,
                f.client_id,
                f.user_id,
                f.session_id,
                f.audience,
                f.scope,
                f.rotating,
                f.counter as i64,
                f.created_at,
                f.expires_at,
                f.idle_expires_at,
                f.rotated_at,
                f.revoked_at,
                f.auth_time
            ])
        })
        .map(drop)
    }

    async fn family(&self, id: &FamilyId) -> Result<Option<Family>> {
        // This sees every rotation committed before it (by this process: same connection; by
        // another: WAL snapshots start per statement). A stale read could only lose the
        // conditional write in `rotate`, never win it.
        self.run(|c| c.prepare_cached("SELECT * FROM families WHERE family_id = ?1")?.query_row([id.to_string()], family_from).optional())
    }

    async fn rotate(
        &self,
        id: &FamilyId,
        client_id: &str,
        from: u64,
        now: UnixTime,
        idle_expires_at: Option<UnixTime>,
    ) -> Result<Option<Rotated>> {
        // Three statements on the connection, held once. (Not one transaction: measured, BEGIN and
        // COMMIT around them cost more than they save; the reads follow the committed write.)
        self.run(|c| {
            let family = c
                .prepare_cached(
                    "UPDATE families SET counter = counter + 1, rotated_at = ?4,
                       idle_expires_at = CASE WHEN ?5 IS NULL OR expires_at IS NULL THEN ?5 ELSE MIN(?5, expires_at) END
                     WHERE family_id = ?1 AND client_id = ?2 AND counter = ?3 AND rotating = 1 AND revoked_at IS NULL
                       AND (expires_at IS NULL OR expires_at > ?4) AND (idle_expires_at IS NULL OR idle_expires_at > ?4)
                     RETURNING *",
                )?
                .query_row(params![id.to_string(), client_id, from as i64, now, idle_expires_at], family_from)
                .optional()?;
            let Some(family) = family else { return Ok(None) };
            let user = c.prepare_cached("SELECT * FROM users WHERE user_id = ?1")?.query_row([&family.user_id], user_from).optional()?;
            let api = match &family.audience {
                Some(a) => c
                    .prepare_cached("SELECT data FROM apis WHERE identifier = ?1")?
                    .query_row([a], |r| from_json(&r.get::<_, String>(0)?))
                    .optional()?,
                None => None,
            };
            Ok(Some(Rotated { family, user, api }))
        })
    }

    async fn touch_family(&self, id: &FamilyId, _now: UnixTime, idle_expires_at: Option<UnixTime>) -> Result<()> {
        self.run(|c| {
            c.prepare_cached("UPDATE families SET idle_expires_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL")?
                .execute(params![id.to_string(), idle_expires_at])
        })
        .map(drop)
    }

    async fn revoke_family(&self, id: &FamilyId, now: UnixTime) -> Result<bool> {
        self.run(|c| {
            c.prepare_cached("UPDATE families SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL")?
                .execute(params![id.to_string(), now])
        })
        .map(|n| n == 1)
    }

    async fn revoke_families(&self, f: &FamilyFilter, now: UnixTime) -> Result<u64> {
        // Each condition is skipped when its parameter is NULL, so one statement serves all filters.
        let (aud_given, aud) = match &f.audience {
            Some(a) => (true, a.clone()),
            None => (false, None),
        };
        let f = f.clone();
        self.run_in_background(move |c| {
            c.prepare_cached(
                "UPDATE families SET revoked_at = ?1 WHERE revoked_at IS NULL
                   AND (?2 IS NULL OR user_id = ?2) AND (?3 IS NULL OR client_id = ?3)
                   AND (?4 IS NULL OR session_id = ?4) AND (?5 IS NULL OR grant_id = ?5)
                   AND (?6 = 0 OR audience IS ?7) AND (?8 IS NULL OR rotating = ?8)",
            )?
            .execute(params![now, f.user_id, f.client_id, f.session_id, f.grant_id, aud_given, aud, f.rotating])
            .map(|n| n as u64)
        })
        .await
    }

    async fn evict_families(&self, user_id: &str, client_id: &str, keep: u32, spare: Option<&FamilyId>, now: UnixTime) -> Result<u64> {
        let offset = if spare.is_some() { keep.saturating_sub(1) } else { keep };
        let spare = spare.map(|f| f.to_string()).unwrap_or_default();
        self.run(|c| {
            c.prepare_cached(
                "UPDATE families SET revoked_at = ?4 WHERE family_id IN (
                   SELECT family_id FROM families
                   WHERE user_id = ?1 AND client_id = ?2 AND revoked_at IS NULL AND family_id <> ?5
                     AND (expires_at IS NULL OR expires_at > ?4) AND (idle_expires_at IS NULL OR idle_expires_at > ?4)
                   ORDER BY created_at DESC, family_id DESC LIMIT -1 OFFSET ?3)",
            )?
            .execute(params![user_id, client_id, offset, now, spare])
            .map(|n| n as u64)
        })
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
        Ok(n)
    }

    async fn record(&self, e: &Event) -> Result<()> {
        self.record_many(std::slice::from_ref(e)).await
    }

    async fn record_many(&self, events: &[Event]) -> Result<()> {
        let events = events.to_vec();
        self.run_in_background(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO events (at, type, client_id, user_id, description, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for e in &events {
                    insert.execute(params![e.at, e.kind, e.client_id, e.user_id, e.description, e.details.to_string()])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn events(&self, q: &EventQuery) -> Result<Vec<Event>> {
        let limit = if q.limit == 0 { 100 } else { q.limit };
        self.run(|c| {
            c.prepare_cached(
                "SELECT * FROM events WHERE (?1 IS NULL OR type = ?1) AND (?2 IS NULL OR user_id = ?2) ORDER BY id DESC LIMIT ?3",
            )?
            .query_map(params![q.kind, q.user_id, limit], event_from)?
            .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(user_version(&path), 1);
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
                store.insert_server_secret(&format!("test-{rows}"), 1, &[7u8; 3000], 0).await.unwrap();
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
        };
        // Old and recent rows interleaved, over several steps.
        let events: Vec<Event> = (0..3 * PURGE_STEP).map(|i| event(if i % 3 == 0 { now } else { old })).collect();
        store.record_many(&events).await.unwrap();
        assert_eq!(store.purge(now, 86_400).await.unwrap(), 2 * PURGE_STEP as u64);
        let left = store.events(&EventQuery { limit: u32::MAX, ..Default::default() }).await.unwrap();
        assert_eq!(left.len(), PURGE_STEP as usize);
        assert!(left.iter().all(|e| e.at == now), "only the recent rows stay");
    }

    #[test]
    fn urls_name_a_file() {
        assert_eq!(path_of("sqlite://ratchet.db").unwrap(), PathBuf::from("ratchet.db"));
        assert_eq!(path_of("sqlite:///var/lib/r.db?mode=rwc").unwrap(), PathBuf::from("/var/lib/r.db"));
        assert!(path_of("sqlite::memory:").is_err());
        assert!(path_of("sqlite://").is_err());
    }
}
