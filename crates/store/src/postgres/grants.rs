use super::*;

pub(super) fn code_from(r: &PgRow) -> Result<AuthCode> {
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

#[async_trait]
impl GrantStore for PostgresStore {
    async fn insert_code(&self, c: &AuthCode, now: UnixTime) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query("INSERT INTO grants (grant_id, client_id, user_id, created_at, session_id) VALUES ($1, $2, $3, $4, $5)")
            .bind(&c.grant_id)
            .bind(&c.client_id)
            .bind(&c.user_id)
            .bind(now)
            .bind(&c.session_id)
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
        let row = sqlx::query(
            "SELECT 1 FROM grants g WHERE g.grant_id = $1 AND g.revoked_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM families f WHERE f.grant_id = g.grant_id AND f.revoked_at IS NOT NULL)",
        )
        .bind(grant_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(row.is_some())
    }
}
