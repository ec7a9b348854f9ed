use super::*;

#[async_trait]
impl SecretStore for PostgresStore {
    async fn server_secrets(&self, kind: &str) -> Result<Vec<ServerSecret>> {
        let rows = sqlx::query("SELECT kid, sealed, created_at, activates_at, revoked_at FROM server_secrets WHERE kind = $1 ORDER BY kid")
            .bind(kind)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let kid: i16 = r.try_get("kid").map_err(map_err)?;
                let kid = u8::try_from(kid).map_err(|_| StoreError::Other("corrupt server secret kid".into()))?;
                Ok(ServerSecret {
                    kid,
                    sealed: r.try_get("sealed").map_err(map_err)?,
                    created_at: r.try_get("created_at").map_err(map_err)?,
                    activates_at: r.try_get("activates_at").map_err(map_err)?,
                    revoked_at: r.try_get("revoked_at").map_err(map_err)?,
                })
            })
            .collect()
    }

    async fn insert_server_secret(&self, kind: &str, kid: u8, sealed: &[u8], now: UnixTime, activates_at: UnixTime) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO server_secrets (kind, kid, sealed, created_at, activates_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT DO NOTHING",
        )
        .bind(kind)
        .bind(i16::from(kid))
        .bind(sealed)
        .bind(now)
        .bind(activates_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn revoke_server_secret(&self, kind: &str, kid: u8, now: UnixTime) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE server_secrets SET revoked_at = $3, sealed = ''::bytea WHERE kind = $1 AND kid = $2 AND revoked_at IS NULL",
        )
        .bind(kind)
        .bind(i16::from(kid))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }
}
