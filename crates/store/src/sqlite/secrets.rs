use super::*;

#[async_trait]
impl SecretStore for SqliteStore {
    async fn server_secrets(&self, kind: &str) -> Result<Vec<ServerSecret>> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT kid, sealed, created_at, activates_at, revoked_at FROM server_secrets WHERE kind = ?1 ORDER BY kid",
            )?;
            stmt.query_map([kind], |r| {
                Ok(ServerSecret {
                    kid: r.get(0)?,
                    sealed: r.get(1)?,
                    created_at: r.get(2)?,
                    activates_at: r.get(3)?,
                    revoked_at: r.get(4)?,
                })
            })?
            .collect()
        })
    }

    async fn insert_server_secret(&self, kind: &str, kid: u8, sealed: &[u8], now: UnixTime, activates_at: UnixTime) -> Result<bool> {
        self.run(|c| {
            c.prepare_cached(
                "INSERT INTO server_secrets (kind, kid, sealed, created_at, activates_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![kind, kid, sealed, now, activates_at])
        })
        .map(|n| n == 1)
    }

    async fn revoke_server_secret(&self, kind: &str, kid: u8, now: UnixTime) -> Result<bool> {
        self.run(|c| {
            c.prepare_cached("UPDATE server_secrets SET revoked_at = ?3, sealed = x'' WHERE kind = ?1 AND kid = ?2 AND revoked_at IS NULL")?
                .execute(params![kind, kid, now])
        })
        .map(|n| n == 1)
    }
}
