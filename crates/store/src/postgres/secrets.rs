use super::*;

#[async_trait]
impl SecretStore for PostgresStore {
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
}
