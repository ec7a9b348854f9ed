use super::*;

pub(super) fn session_from(r: &Row) -> rusqlite::Result<Session> {
    let auth_time: UnixTime = r.get("auth_time")?;
    Ok(Session {
        id_hash: r.get("id_hash")?,
        sid: r.get::<_, Option<String>>("sid")?.unwrap_or_default(),
        user_id: r.get("user_id")?,
        auth_time,
        expires_at: r.get("expires_at")?,
        idle_expires_at: r.get("idle_expires_at")?,
        created_at: r.get::<_, Option<UnixTime>>("created_at")?.unwrap_or(auth_time),
        last_interacted_at: r.get::<_, Option<UnixTime>>("last_interacted_at")?.unwrap_or(auth_time),
        initial: Seen { ip: r.get("initial_ip")?, user_agent: r.get("initial_user_agent")? },
        last: Seen { ip: r.get("last_ip")?, user_agent: r.get("last_user_agent")? },
    })
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, s: &Session) -> Result<()> {
        self.run(|c| {
            c.prepare_cached(
                "INSERT INTO sessions (id_hash, sid, user_id, auth_time, expires_at, idle_expires_at, created_at, last_interacted_at,
                                       initial_ip, initial_user_agent, last_ip, last_user_agent)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                s.id_hash,
                s.sid,
                s.user_id,
                s.auth_time,
                s.expires_at,
                s.idle_expires_at,
                s.created_at,
                s.last_interacted_at,
                s.initial.ip,
                s.initial.user_agent,
                s.last.ip,
                s.last.user_agent
            ])
        })
        .map(drop)
    }

    async fn session(&self, id_hash: &str) -> Result<Option<Session>> {
        self.run(|c| c.prepare_cached("SELECT * FROM sessions WHERE id_hash = ?1")?.query_row([id_hash], session_from).optional())
    }

    async fn touch_session(&self, id_hash: &str, idle_expires_at: UnixTime, now: UnixTime) -> Result<()> {
        self.run(|c| {
            c.prepare_cached("UPDATE sessions SET idle_expires_at = MIN(?2, expires_at), last_interacted_at = ?3 WHERE id_hash = ?1")?
                .execute(params![id_hash, idle_expires_at, now])
        })
        .map(drop)
    }

    async fn delete_session(&self, id_hash: &str, revoke_families: bool, now: UnixTime) -> Result<bool> {
        const REVOKE: &str = "UPDATE families SET revoked_at = ?2 WHERE session_id = ?1 AND revoked_at IS NULL";
        // Grants without a family (no refresh token) are revoked too: their access tokens die.
        const REVOKE_GRANTS: &str = "UPDATE grants SET revoked_at = ?2 WHERE session_id = ?1 AND revoked_at IS NULL";
        const DELETE: &str = "DELETE FROM sessions WHERE id_hash = ?1";
        let statements: &'static [&'static str] = if revoke_families { &[REVOKE, REVOKE_GRANTS, DELETE] } else { &[DELETE] };
        Ok(self.cascade(statements, id_hash, now).await? == 1)
    }

    async fn session_by_sid(&self, sid: &str) -> Result<Option<Session>> {
        self.run(|c| c.prepare_cached("SELECT * FROM sessions WHERE sid = ?1")?.query_row([sid], session_from).optional())
    }

    async fn sessions_of(&self, user_id: &str, after: Option<&str>, limit: u32) -> Result<Vec<Session>> {
        self.run(|c| {
            c.prepare_cached("SELECT * FROM sessions WHERE user_id = ?1 AND sid > ?2 ORDER BY sid LIMIT ?3")?
                .query_map(params![user_id, after.unwrap_or(""), limit], session_from)?
                .collect()
        })
    }

    async fn session_clients(&self, id_hash: &str) -> Result<Vec<String>> {
        self.run(|c| {
            c.prepare_cached("SELECT DISTINCT client_id FROM families WHERE session_id = ?1 ORDER BY client_id")?
                .query_map([id_hash], |r| r.get(0))?
                .collect()
        })
    }

    async fn delete_sessions_of(&self, user_id: &str) -> Result<u64> {
        self.cascade(&["DELETE FROM sessions WHERE user_id = ?1"], user_id, 0).await
    }

    async fn count_live_sessions(&self, now: UnixTime) -> Result<u64> {
        let n: i64 = self.run(|c| {
            c.prepare_cached("SELECT COUNT(*) FROM sessions WHERE expires_at > ?1 AND idle_expires_at > ?1")?.query_row([now], |r| r.get(0))
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
