use super::*;

#[async_trait]
impl SecretStore for SqliteStore {
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
}
