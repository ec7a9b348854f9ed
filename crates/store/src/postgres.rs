//! The PostgreSQL adapter: one database shared by any number of stateless nodes.
//!
//! Every method is one statement or one transaction at the default READ COMMITTED isolation. The
//! writes that decide races are single conditional statements (`rotate`, `redeem_code`,
//! `insert_server_secret`): when two nodes update the same row, PostgreSQL makes the second wait
//! for the first to commit and then re-evaluates its `WHERE` against the new row version, so
//! exactly one of them matches. Migrations are embedded and serialised across nodes by the
//! migrator's advisory lock (`pg_advisory_lock`, held on one connection for the whole run).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use ratchet_core::UnixTime;
use ratchet_core::client::{Api, Client};
use ratchet_core::family::{Family, FamilyId};
use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};

use crate::{AuthCode, Event, EventQuery, FamilyFilter, Redemption, Result, Rotated, Session, Store, StoreError, StoredClient, User};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// At most this many connections per node (PostgreSQL's default `max_connections` is 100).
pub const MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a connection before the store reports `Unavailable`.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A PostgreSQL database, through a connection pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
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
        Ok(PostgresStore { pool })
    }

    /// The underlying pool (for diagnostics and tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn user_from(r: &PgRow) -> Result<User> {
    Ok(User {
        user_id: r.try_get("user_id").map_err(map_err)?,
        email: r.try_get("email").map_err(map_err)?,
        name: r.try_get("name").map_err(map_err)?,
        password_hash: r.try_get("password_hash").map_err(map_err)?,
        blocked: r.try_get("blocked").map_err(map_err)?,
        created_at: r.try_get("created_at").map_err(map_err)?,
    })
}

fn session_from(r: &PgRow) -> Result<Session> {
    Ok(Session {
        id_hash: r.try_get("id_hash").map_err(map_err)?,
        user_id: r.try_get("user_id").map_err(map_err)?,
        auth_time: r.try_get("auth_time").map_err(map_err)?,
        expires_at: r.try_get("expires_at").map_err(map_err)?,
        idle_expires_at: r.try_get("idle_expires_at").map_err(map_err)?,
    })
}

fn code_from(r: &PgRow) -> Result<AuthCode> {
    Ok(AuthCode {
        code_hash: r.try_get("code_hash").map_err(map_err)?,
        grant_id: r.try_get("grant_id").map_err(map_err)?,
        client_id: r.try_get("client_id").map_err(map_err)?,
        user_id: r.try_get("user_id").map_err(map_err)?,
        session_id: r.try_get("session_id").map_err(map_err)?,
        redirect_uri: r.try_get("redirect_uri").map_err(map_err)?,
        code_challenge: r.try_get("code_challenge").map_err(map_err)?,
        scope: r.try_get("scope").map_err(map_err)?,
        audience: r.try_get("audience").map_err(map_err)?,
        nonce: r.try_get("nonce").map_err(map_err)?,
        auth_time: r.try_get("auth_time").map_err(map_err)?,
        expires_at: r.try_get("expires_at").map_err(map_err)?,
    })
}

fn family_from(r: &PgRow) -> Result<Family> {
    let id: String = r.try_get("family_id").map_err(map_err)?;
    let counter: i64 = r.try_get("counter").map_err(map_err)?;
    Ok(Family {
        id: FamilyId::parse(&id).ok_or_else(|| StoreError::Other("corrupt family id".into()))?,
        grant_id: r.try_get("grant_id").map_err(map_err)?,
        client_id: r.try_get("client_id").map_err(map_err)?,
        user_id: r.try_get("user_id").map_err(map_err)?,
        session_id: r.try_get("session_id").map_err(map_err)?,
        audience: r.try_get("audience").map_err(map_err)?,
        scope: r.try_get("scope").map_err(map_err)?,
        rotating: r.try_get("rotating").map_err(map_err)?,
        counter: u64::try_from(counter).map_err(|_| StoreError::Other("corrupt family counter".into()))?,
        created_at: r.try_get("created_at").map_err(map_err)?,
        expires_at: r.try_get("expires_at").map_err(map_err)?,
        idle_expires_at: r.try_get("idle_expires_at").map_err(map_err)?,
        rotated_at: r.try_get("rotated_at").map_err(map_err)?,
        revoked_at: r.try_get("revoked_at").map_err(map_err)?,
        auth_time: r.try_get("auth_time").map_err(map_err)?,
    })
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

    async fn server_secrets(&self, kind: &str) -> Result<Vec<(u8, Vec<u8>)>> {
        let rows = sqlx::query("SELECT kid, sealed FROM server_secrets WHERE kind = $1 ORDER BY kid")
            .bind(kind)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let kid: i16 = r.try_get("kid").map_err(map_err)?;
                let kid = u8::try_from(kid).map_err(|_| StoreError::Other("corrupt server secret kid".into()))?;
                Ok((kid, r.try_get("sealed").map_err(map_err)?))
            })
            .collect()
    }

    async fn insert_server_secret(&self, kind: &str, kid: u8, sealed: &[u8], now: UnixTime) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO server_secrets (kind, kid, sealed, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(kind)
        .bind(i16::from(kid))
        .bind(sealed)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_client(&self, client: &Client, secret_hash: Option<&str>) -> Result<()> {
        sqlx::query("INSERT INTO clients (client_id, secret_hash, data) VALUES ($1, $2, $3)")
            .bind(&client.client_id)
            .bind(secret_hash)
            .bind(json(client))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn update_client(&self, client: &Client) -> Result<bool> {
        let r = sqlx::query("UPDATE clients SET data = $2 WHERE client_id = $1")
            .bind(&client.client_id)
            .bind(json(client))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn client(&self, client_id: &str) -> Result<Option<StoredClient>> {
        let row = sqlx::query("SELECT secret_hash, data FROM clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| {
            Ok(StoredClient {
                client: from_json(r.try_get::<&str, _>("data").map_err(map_err)?)?,
                secret_hash: r.try_get("secret_hash").map_err(map_err)?,
            })
        })
        .transpose()
    }

    async fn clients(&self) -> Result<Vec<Client>> {
        // COLLATE "C": byte order, as SQLite sorts, whatever the database's default collation.
        let rows = sqlx::query("SELECT data FROM clients ORDER BY client_id COLLATE \"C\"").fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(|r| from_json(r.try_get::<&str, _>("data").map_err(map_err)?)).collect()
    }

    async fn delete_client(&self, client_id: &str, now: UnixTime) -> Result<bool> {
        let deleted = self
            .cascade(
                &[
                    "UPDATE families SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL",
                    "UPDATE grants SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL",
                    "DELETE FROM codes WHERE client_id = $1",
                    "DELETE FROM clients WHERE client_id = $1",
                ],
                client_id,
                now,
            )
            .await?;
        Ok(deleted == 1)
    }

    async fn insert_api(&self, api: &Api) -> Result<()> {
        sqlx::query("INSERT INTO apis (id, identifier, data) VALUES ($1, $2, $3)")
            .bind(&api.id)
            .bind(&api.identifier)
            .bind(json(api))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn api(&self, identifier: &str) -> Result<Option<Api>> {
        let row = sqlx::query("SELECT data FROM apis WHERE identifier = $1")
            .bind(identifier)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| from_json(r.try_get::<&str, _>("data").map_err(map_err)?)).transpose()
    }

    async fn insert_user(&self, user: &User) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (user_id, email, name, password_hash, blocked, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user.user_id)
        .bind(&user.email)
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(user.blocked)
        .bind(user.created_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn user(&self, user_id: &str) -> Result<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE user_id = $1").bind(user_id).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.as_ref().map(user_from).transpose()
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE email = $1").bind(email).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.as_ref().map(user_from).transpose()
    }

    async fn set_user_blocked(&self, user_id: &str, blocked: bool, now: UnixTime) -> Result<bool> {
        let statements: &[&'static str] = if blocked {
            &[
                "DELETE FROM sessions WHERE user_id = $1",
                "UPDATE families SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                "UPDATE grants SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                "UPDATE users SET blocked = TRUE WHERE user_id = $1",
            ]
        } else {
            &["UPDATE users SET blocked = FALSE WHERE user_id = $1"]
        };
        Ok(self.cascade(statements, user_id, now).await? == 1)
    }

    async fn delete_user(&self, user_id: &str, now: UnixTime) -> Result<bool> {
        let deleted = self
            .cascade(
                &[
                    "UPDATE families SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                    "UPDATE grants SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                    "DELETE FROM codes WHERE user_id = $1",
                    "DELETE FROM users WHERE user_id = $1",
                ],
                user_id,
                now,
            )
            .await?;
        Ok(deleted == 1)
    }

    async fn insert_session(&self, s: &Session) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, auth_time, expires_at, idle_expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&s.id_hash)
        .bind(&s.user_id)
        .bind(s.auth_time)
        .bind(s.expires_at)
        .bind(s.idle_expires_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn session(&self, id_hash: &str) -> Result<Option<Session>> {
        let row =
            sqlx::query("SELECT * FROM sessions WHERE id_hash = $1").bind(id_hash).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.as_ref().map(session_from).transpose()
    }

    async fn touch_session(&self, id_hash: &str, idle_expires_at: UnixTime) -> Result<()> {
        sqlx::query("UPDATE sessions SET idle_expires_at = LEAST($2::bigint, expires_at) WHERE id_hash = $1")
            .bind(id_hash)
            .bind(idle_expires_at)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &str, revoke_families: bool, now: UnixTime) -> Result<bool> {
        const REVOKE: &str = "UPDATE families SET revoked_at = $2 WHERE session_id = $1 AND revoked_at IS NULL";
        const DELETE: &str = "DELETE FROM sessions WHERE id_hash = $1";
        let statements: &[&'static str] = if revoke_families { &[REVOKE, DELETE] } else { &[DELETE] };
        Ok(self.cascade(statements, id_hash, now).await? == 1)
    }

    async fn insert_code(&self, c: &AuthCode, now: UnixTime) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query("INSERT INTO grants (grant_id, client_id, user_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&c.grant_id)
            .bind(&c.client_id)
            .bind(&c.user_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO codes (code_hash, grant_id, client_id, user_id, session_id, redirect_uri,
                                code_challenge, scope, audience, nonce, auth_time, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&c.code_hash)
        .bind(&c.grant_id)
        .bind(&c.client_id)
        .bind(&c.user_id)
        .bind(&c.session_id)
        .bind(&c.redirect_uri)
        .bind(&c.code_challenge)
        .bind(&c.scope)
        .bind(&c.audience)
        .bind(&c.nonce)
        .bind(c.auth_time)
        .bind(c.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn redeem_code(&self, code_hash: &str, now: UnixTime) -> Result<Redemption> {
        // Concurrent redeemers queue on the row lock; each later one re-checks `used_at IS NULL`
        // against the committed row and matches nothing.
        let fresh = sqlx::query("UPDATE codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL RETURNING *")
            .bind(code_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        if let Some(r) = fresh {
            return Ok(Redemption::Fresh(code_from(&r)?));
        }
        let spent =
            sqlx::query("SELECT * FROM codes WHERE code_hash = $1").bind(code_hash).fetch_optional(&self.pool).await.map_err(map_err)?;
        Ok(match spent {
            Some(r) => Redemption::Replayed(code_from(&r)?),
            None => Redemption::NotFound,
        })
    }

    async fn revoke_grant(&self, grant_id: &str, now: UnixTime) -> Result<()> {
        self.cascade(
            &[
                "UPDATE grants SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL",
                "UPDATE families SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL",
            ],
            grant_id,
            now,
        )
        .await?;
        Ok(())
    }

    async fn grant_is_live(&self, grant_id: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 FROM grants WHERE grant_id = $1 AND revoked_at IS NULL")
            .bind(grant_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(row.is_some())
    }

    async fn insert_family(&self, f: &Family) -> Result<()> {
        sqlx::query(
            "INSERT INTO families (family_id, grant_id, client_id, user_id, session_id, audience,
                                   scope, rotating, counter, created_at, expires_at,
                                   idle_expires_at, rotated_at, revoked_at, auth_time)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(f.id.to_string())
        .bind(&f.grant_id)
        .bind(&f.client_id)
        .bind(&f.user_id)
        .bind(&f.session_id)
        .bind(&f.audience)
        .bind(&f.scope)
        .bind(f.rotating)
        .bind(counter_param(f.counter)?)
        .bind(f.created_at)
        .bind(f.expires_at)
        .bind(f.idle_expires_at)
        .bind(f.rotated_at)
        .bind(f.revoked_at)
        .bind(f.auth_time)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn family(&self, id: &FamilyId) -> Result<Option<Family>> {
        let row = sqlx::query("SELECT * FROM families WHERE family_id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(family_from).transpose()
    }

    async fn rotate(
        &self,
        id: &FamilyId,
        client_id: &str,
        from: u64,
        now: UnixTime,
        idle_expires_at: Option<UnixTime>,
    ) -> Result<Option<Rotated>> {
        // One statement: a concurrent winner's commit makes this row fail `counter = $3` on the
        // re-check, so exactly one of N racing callers (on any node) gets the row back. The user
        // and API come back with it, saving the hot path two round trips.
        let row = sqlx::query(
            "WITH r AS (
               UPDATE families SET counter = counter + 1, rotated_at = $4,
                 idle_expires_at = CASE WHEN $5::bigint IS NULL OR expires_at IS NULL THEN $5::bigint ELSE LEAST($5::bigint, expires_at) END
               WHERE family_id = $1 AND client_id = $2 AND counter = $3 AND rotating AND revoked_at IS NULL
                 AND (expires_at IS NULL OR expires_at > $4) AND (idle_expires_at IS NULL OR idle_expires_at > $4)
               RETURNING *)
             SELECT r.*, u.email AS user_email, u.name AS user_name, u.password_hash AS user_password_hash,
                    u.blocked AS user_blocked, u.created_at AS user_created_at, a.data AS api_data
             FROM r LEFT JOIN users u ON u.user_id = r.user_id LEFT JOIN apis a ON a.identifier = r.audience",
        )
        .bind(id.to_string())
        .bind(client_id)
        .bind(counter_param(from)?)
        .bind(now)
        .bind(idle_expires_at)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        let Some(r) = row else { return Ok(None) };
        let family = family_from(&r)?;
        let user = match r.try_get::<Option<String>, _>("user_email").map_err(map_err)? {
            Some(email) => Some(User {
                user_id: family.user_id.clone(),
                email,
                name: r.try_get("user_name").map_err(map_err)?,
                password_hash: r.try_get("user_password_hash").map_err(map_err)?,
                blocked: r.try_get("user_blocked").map_err(map_err)?,
                created_at: r.try_get("user_created_at").map_err(map_err)?,
            }),
            None => None,
        };
        let api = r.try_get::<Option<&str>, _>("api_data").map_err(map_err)?.map(from_json).transpose()?;
        Ok(Some(Rotated { family, user, api }))
    }

    async fn touch_family(&self, id: &FamilyId, _now: UnixTime, idle_expires_at: Option<UnixTime>) -> Result<()> {
        sqlx::query("UPDATE families SET idle_expires_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
            .bind(id.to_string())
            .bind(idle_expires_at)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn revoke_family(&self, id: &FamilyId, now: UnixTime) -> Result<bool> {
        let r = sqlx::query("UPDATE families SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
            .bind(id.to_string())
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn revoke_families(&self, f: &FamilyFilter, now: UnixTime) -> Result<u64> {
        // Each condition is skipped when its parameter is NULL, so one statement serves all
        // filters. The casts type the NULLs; `IS NOT DISTINCT FROM` is SQLite's `IS`.
        let (aud_given, aud) = match &f.audience {
            Some(a) => (true, a.clone()),
            None => (false, None),
        };
        let r = sqlx::query(
            "UPDATE families SET revoked_at = $1 WHERE revoked_at IS NULL
               AND ($2::text IS NULL OR user_id = $2::text)
               AND ($3::text IS NULL OR client_id = $3::text)
               AND ($4::text IS NULL OR session_id = $4::text)
               AND ($5::text IS NULL OR grant_id = $5::text)
               AND (NOT $6::boolean OR audience IS NOT DISTINCT FROM $7::text)
               AND ($8::boolean IS NULL OR rotating = $8::boolean)",
        )
        .bind(now)
        .bind(&f.user_id)
        .bind(&f.client_id)
        .bind(&f.session_id)
        .bind(&f.grant_id)
        .bind(aud_given)
        .bind(aud)
        .bind(f.rotating)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected())
    }

    async fn evict_families(&self, user_id: &str, client_id: &str, keep: u32, spare: Option<&FamilyId>, now: UnixTime) -> Result<u64> {
        let offset = if spare.is_some() { keep.saturating_sub(1) } else { keep };
        // The outer `revoked_at IS NULL` keeps the first revocation time of a family that a
        // concurrent statement revoked after this one took its snapshot.
        let r = sqlx::query(
            "UPDATE families SET revoked_at = $4 WHERE revoked_at IS NULL AND family_id IN (
               SELECT family_id FROM families
               WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL AND family_id <> $5
                 AND (expires_at IS NULL OR expires_at > $4)
                 AND (idle_expires_at IS NULL OR idle_expires_at > $4)
               ORDER BY created_at DESC, family_id COLLATE \"C\" DESC OFFSET $3)",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(i64::from(offset))
        .bind(now)
        .bind(spare.map(|f| f.to_string()).unwrap_or_default())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected())
    }

    async fn purge(&self, now: UnixTime, grace: i64) -> Result<u64> {
        let cutoff = now - grace;
        let mut n = 0;
        for sql in [
            "DELETE FROM codes WHERE expires_at < $1",
            "DELETE FROM sessions WHERE expires_at < $1 OR idle_expires_at < $1",
            "DELETE FROM families WHERE revoked_at < $1 OR expires_at < $1 OR idle_expires_at < $1",
            "DELETE FROM grants WHERE created_at < $1
               AND NOT EXISTS (SELECT 1 FROM families f WHERE f.grant_id = grants.grant_id)
               AND NOT EXISTS (SELECT 1 FROM codes c WHERE c.grant_id = grants.grant_id)",
        ] {
            n += sqlx::query(sql).bind(cutoff).execute(&self.pool).await.map_err(map_err)?.rows_affected();
        }
        n += sqlx::query("DELETE FROM events WHERE at < $1")
            .bind(now - crate::EVENT_RETENTION)
            .execute(&self.pool)
            .await
            .map_err(map_err)?
            .rows_affected();
        Ok(n)
    }

    async fn record(&self, e: &Event) -> Result<()> {
        self.record_many(std::slice::from_ref(e)).await
    }

    async fn record_many(&self, events: &[Event]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        for e in events {
            sqlx::query("INSERT INTO events (at, type, client_id, user_id, description, details) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(e.at)
                .bind(&e.kind)
                .bind(&e.client_id)
                .bind(&e.user_id)
                .bind(&e.description)
                .bind(e.details.to_string())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn events(&self, q: &EventQuery) -> Result<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT * FROM events
             WHERE ($1::text IS NULL OR type = $1::text) AND ($2::text IS NULL OR user_id = $2::text)
             ORDER BY id DESC LIMIT $3",
        )
        .bind(&q.kind)
        .bind(&q.user_id)
        .bind(i64::from(if q.limit == 0 { 100 } else { q.limit }))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(Event {
                    at: r.try_get("at").map_err(map_err)?,
                    kind: r.try_get("type").map_err(map_err)?,
                    client_id: r.try_get("client_id").map_err(map_err)?,
                    user_id: r.try_get("user_id").map_err(map_err)?,
                    description: r.try_get("description").map_err(map_err)?,
                    details: from_json(r.try_get::<&str, _>("details").map_err(map_err)?)?,
                })
            })
            .collect()
    }
}
