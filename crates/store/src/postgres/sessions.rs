use super::*;

pub(super) fn session_from(r: &PgRow) -> Result<Session> {
    Ok(Session {
        id_hash: r.try_get("id_hash").map_err(map_err)?,
        user_id: r.try_get("user_id").map_err(map_err)?,
        auth_time: r.try_get("auth_time").map_err(map_err)?,
        expires_at: r.try_get("expires_at").map_err(map_err)?,
        idle_expires_at: r.try_get("idle_expires_at").map_err(map_err)?,
    })
}

#[async_trait]
impl SessionStore for PostgresStore {
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
}
