use super::*;

pub(super) fn session_from(r: &Row) -> rusqlite::Result<Session> {
    Ok(Session {
        id_hash: r.get("id_hash")?,
        user_id: r.get("user_id")?,
        auth_time: r.get("auth_time")?,
        expires_at: r.get("expires_at")?,
        idle_expires_at: r.get("idle_expires_at")?,
    })
}

#[async_trait]
impl SessionStore for SqliteStore {
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
}
