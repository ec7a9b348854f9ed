use super::*;

pub(super) fn session_from(r: &PgRow) -> Result<Session> {
    let auth_time: UnixTime = r.try_get("auth_time").map_err(map_err)?;
    Ok(Session {
        id_hash: r.try_get("id_hash").map_err(map_err)?,
        sid: r.try_get::<Option<String>, _>("sid").map_err(map_err)?.unwrap_or_default(),
        user_id: r.try_get("user_id").map_err(map_err)?,
        auth_time,
        expires_at: r.try_get("expires_at").map_err(map_err)?,
        idle_expires_at: r.try_get("idle_expires_at").map_err(map_err)?,
        created_at: r.try_get::<Option<UnixTime>, _>("created_at").map_err(map_err)?.unwrap_or(auth_time),
        last_interacted_at: r.try_get::<Option<UnixTime>, _>("last_interacted_at").map_err(map_err)?.unwrap_or(auth_time),
        initial: Seen { ip: r.try_get("initial_ip").map_err(map_err)?, user_agent: r.try_get("initial_user_agent").map_err(map_err)? },
        last: Seen { ip: r.try_get("last_ip").map_err(map_err)?, user_agent: r.try_get("last_user_agent").map_err(map_err)? },
    })
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn insert_session(&self, s: &Session) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, sid, user_id, auth_time, expires_at, idle_expires_at, created_at, last_interacted_at,
                                   initial_ip, initial_user_agent, last_ip, last_user_agent)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&s.id_hash)
        .bind(&s.sid)
        .bind(&s.user_id)
        .bind(s.auth_time)
        .bind(s.expires_at)
        .bind(s.idle_expires_at)
        .bind(s.created_at)
        .bind(s.last_interacted_at)
        .bind(&s.initial.ip)
        .bind(&s.initial.user_agent)
        .bind(&s.last.ip)
        .bind(&s.last.user_agent)
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

    async fn touch_session(&self, id_hash: &str, idle_expires_at: UnixTime, now: UnixTime) -> Result<()> {
        sqlx::query("UPDATE sessions SET idle_expires_at = LEAST($2::bigint, expires_at), last_interacted_at = $3 WHERE id_hash = $1")
            .bind(id_hash)
            .bind(idle_expires_at)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &str, revoke_families: bool, now: UnixTime) -> Result<bool> {
        const REVOKE: &str = "UPDATE families SET revoked_at = $2 WHERE session_id = $1 AND revoked_at IS NULL";
        // Grants without a family (no refresh token) are revoked too: their access tokens die.
        const REVOKE_GRANTS: &str = "UPDATE grants SET revoked_at = $2 WHERE session_id = $1 AND revoked_at IS NULL";
        const DELETE: &str = "DELETE FROM sessions WHERE id_hash = $1";
        let statements: &[&'static str] = if revoke_families { &[REVOKE, REVOKE_GRANTS, DELETE] } else { &[DELETE] };
        Ok(self.cascade(statements, id_hash, now).await? == 1)
    }

    async fn session_by_sid(&self, sid: &str) -> Result<Option<Session>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE sid = $1").bind(sid).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.as_ref().map(session_from).transpose()
    }

    async fn sessions_of(&self, user_id: &str, after: Option<&str>, limit: u32) -> Result<Vec<Session>> {
        let rows = sqlx::query("SELECT * FROM sessions WHERE user_id = $1 AND sid > $2 ORDER BY sid LIMIT $3")
            .bind(user_id)
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(session_from).collect()
    }

    async fn session_clients(&self, id_hash: &str) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT DISTINCT client_id FROM families WHERE session_id = $1 ORDER BY client_id")
            .bind(id_hash)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)
    }

    async fn delete_sessions_of(&self, user_id: &str) -> Result<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&self.pool).await.map_err(map_err)?;
        Ok(r.rows_affected())
    }

    async fn count_live_sessions(&self, now: UnixTime) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE expires_at > $1 AND idle_expires_at > $1")
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
